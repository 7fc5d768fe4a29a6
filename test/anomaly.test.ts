// kiln.detectAnomaly: the first eager op producing NaN/Inf raises with its op and the
// user's line, forward and backward (where the line is the forward op's).
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { kilnError } from './support/kilnError.js';

beforeAll(async () => {
  await kiln.init({ backend: 'reference' });
  await kiln.init();
});


for (const backend of ['reference', 'wasm'] as const) {
  describe(`detectAnomaly on ${backend}`, () => {
    it('forward: names the first op that made NaN/Inf, its output and the user line', () => {
      const x = kiln.tensor([1, 0, 4], { backend });
      const e = kilnError(() => kiln.detectAnomaly(() => x.sqrt().log().mul(2)));
      expect(e.op).toBe('detectAnomaly');
      expect(e.message).toMatch(/log produced -Infinity \(output 0, float32\[3\], first at element 1\); its inputs were finite/);
      expect(e.callSite).toMatch(/anomaly\.test\.ts:\d+/);
      // Without detection the same code runs and yields -inf silently.
      expect(x.sqrt().log().mul(2).dataSync()[1]).toBe(-Infinity);
    });

    it('checkInf: false lets infinities through and still catches NaN', () => {
      const x = kiln.tensor([1, 0], { backend });
      expect(kiln.detectAnomaly(() => x.log(), { checkInf: false }).dataSync()[1]).toBe(-Infinity);
      const e = kilnError(() => kiln.detectAnomaly(() => x.log().sub(x.log()), { checkInf: false }));
      expect(e.message).toMatch(/^detectAnomaly: sub produced NaN .*its inputs were finite/);
    });

    it('backward: names the op whose gradient went wrong and the line its forward ran at', () => {
      const x = kiln.tensor([4, 0], { backend, requiresGrad: true });
      const e = kilnError(() =>
        kiln.detectAnomaly(() => {
          const y = x.sqrt(); // finite forward (0), infinite gradient 1/(2·sqrt(0))
          y.sum().backward();
        }),
      );
      expect(e.message).toMatch(/the gradient of sqrt \(its forward op ran at .*anomaly\.test\.ts:\d+:\d+\) went wrong: .* produced Infinity/);
      expect(e.callSite).toMatch(/anomaly\.test\.ts:\d+/);
      expect(x.grad).toBeNull(); // the failed backward filled nothing
    });

    it('an input that already held NaN is reported as such; detection is off again afterwards', () => {
      const x = kiln.tensor([NaN, 1], { backend });
      expect(kilnError(() => kiln.detectAnomaly(() => x.add(1))).message).toMatch(/add produced NaN .* input 0 already held such values/);
      expect(Number.isNaN(x.add(1).dataSync()[0])).toBe(true); // no longer checking
    });

    it('async functions keep detection on until they settle', async () => {
      const x = kiln.tensor([0], { backend });
      await expect(
        kiln.detectAnomaly(async () => {
          await Promise.resolve();
          return x.log();
        }),
      ).rejects.toThrow(/log produced -Infinity/);
      expect(x.log().dataSync()[0]).toBe(-Infinity);
    });
  });
}
