// When a pipeline of processes fails, the error names the process that failed
// on its own, not the ones that died of the broken pipe it left behind.
import { describe, expect, it } from 'vitest';
import { command, startStreaming } from '../../src/engine/command.js';
import { KNOCK_ON, settlePipeline } from '../../src/engine/pipeline.js';

const sh = (script: string, purpose: string) => command('sh', ['-c', script], purpose, false);

function chainOf(producerScript: string, consumerScript: string) {
  const producer = startStreaming(sh(producerScript, 'produce'), { stdin: 'ignore', stdout: 'pipe' });
  if (producer.child.stdout === null) throw new Error('no pipe');
  const consumer = startStreaming(sh(consumerScript, 'consume'), { stdin: producer.child.stdout, stdout: 'ignore' });
  return { producer, consumer, parts: [producer.done, consumer.done] };
}

describe('settlePipeline', () => {
  it('resolves when every part succeeds', async () => {
    const { producer, consumer, parts } = chainOf('head -c 100000 /dev/zero', 'cat > /dev/null');
    await expect(settlePipeline(parts, [producer, consumer])).resolves.toBeUndefined();
  });

  it('reports the consumer that failed, not the producer that then hit a broken pipe', async () => {
    // The producer writes forever: it can only end by the broken pipe (or by being killed).
    const { producer, consumer, parts } = chainOf('while :; do printf "%01024d" 0; done', 'head -c 1 > /dev/null; echo "consumer: out of space" >&2; exit 3');
    await expect(settlePipeline(parts, [producer, consumer])).rejects.toThrow(/consume failed[\s\S]*out of space/);
  });

  it('reports the producer when it alone failed (the consumer saw a clean end of input)', async () => {
    const { producer, consumer, parts } = chainOf('printf abc; echo "producer: read error" >&2; exit 5', 'cat > /dev/null');
    await expect(settlePipeline(parts, [producer, consumer])).rejects.toThrow(/produce failed[\s\S]*read error/);
  });

  it('reports the first process to fail when the next one then fails on its cut-off input (age before zstd)', async () => {
    const { producer, consumer, parts } = chainOf('printf partial; echo "age: error: failed to decrypt: chunk authentication failed" >&2; exit 1', 'cat > /dev/null; echo "zstd: /*stdin*\\: premature end" >&2; exit 1');
    await expect(settlePipeline(parts, [producer, consumer])).rejects.toThrow(/produce failed[\s\S]*chunk authentication failed/);
  });

  it('reports a part that is not a process when no process failed on its own, and stops the processes', async () => {
    const { producer, consumer, parts } = chainOf('exec sleep 30', 'cat > /dev/null');
    const failing = Promise.reject(new Error('cannot write /backups/x: ENOSPC'));
    await expect(settlePipeline([failing, ...parts], [producer, consumer])).rejects.toThrow(/ENOSPC/);
    expect(producer.child.signalCode).toBe('SIGKILL');
  });

  it('ranks a writer whose reader went away as a knock-on failure, as EPIPE or as a reset socket pair', () => {
    // Node's stdio pipes are socket pairs: host tar writing into a dead compressor reads "Connection reset by peer".
    expect(KNOCK_ON.test('tar: -: Cannot write: Connection reset by peer')).toBe(true);
    expect(KNOCK_ON.test('write EPIPE')).toBe(true);
    expect(KNOCK_ON.test('zstd: error 70 : Write error : cannot write block : No space left on device')).toBe(false);
  });
});
