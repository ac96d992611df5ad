/** Startup time: from launching a case until its published HTTP port answers a request. */
import { get } from 'node:http';
import { sleep } from '../../test/e2e/harness.js';

const ATTEMPT_TIMEOUT_MS = 1_000;
const RETRY_MS = 10;

/** True if a GET to 127.0.0.1:port gets a 200. */
function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: ATTEMPT_TIMEOUT_MS }, (res) => {
      res.resume();
      res.on('end', () => {
        resolve(res.statusCode === 200);
        // Closed now: Node would leave it half-closed (CLOSE_WAIT), held by the forwarder for the whole run.
        req.destroy();
      });
      res.on('error', () => resolve(false));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

/**
 * Milliseconds from `startedAt` (performance.now()) until the port answers. Fails after `ms`, or as
 * soon as `gone()` says the launched program has exited.
 */
export async function untilAnswers(port: number, startedAt: number, ms: number, gone: () => boolean): Promise<number> {
  while (performance.now() - startedAt < ms) {
    if (await answers(port)) return performance.now() - startedAt;
    if (gone()) throw new Error('it exited before its published port answered');
    await sleep(RETRY_MS);
  }
  throw new Error(`its published port did not answer within ${ms} ms`);
}
