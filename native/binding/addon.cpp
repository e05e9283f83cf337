// Module entry point: every binding file registers itself (see Registrar in common.h).
#include "binding/common.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  astro_binding::InitAll(env, exports);
  return exports;
}

NODE_API_MODULE(astrospec, Init)
