import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native } from '../src/native/binding.js';

test('addon loads and reports an instruction set it supports', () => {
  const info = native().info();
  assert.ok(info.supportedIsas.includes('baseline'));
  assert.ok(info.supportedIsas.includes(info.isa), `${info.isa} not in ${info.supportedIsas.join(',')}`);
  assert.ok(info.threads >= 1);
});

test('thread count and ISA can be set, and refuse what the CPU lacks', () => {
  const addon = native();
  const before = addon.info();
  try {
    assert.equal(addon.setThreads(1), 1);
    assert.equal(addon.info().threads, 1);
    for (const isa of ['baseline', 'avx2', 'avx512'] as const) {
      assert.equal(addon.setIsa(isa), before.supportedIsas.includes(isa));
    }
    assert.throws(() => addon.setIsa('sse9' as never), /unknown instruction set/);
  } finally {
    addon.setThreads(0);
    addon.setIsa(before.isa);
  }
});
