/** Public library API. */
export { AstrospecError, type ErrorCode } from './errors.js';
export * from './io/batch.js';
export type * from './io/types.js';
export type * from './model/spec.js';
export { native } from './native/binding.js';
