import { LABEL, type Model } from '../config/model.js';
import { CommandFailed, engineUnreachable, type Runner } from '../engine/command.js';
import { docker } from '../engine/docker.js';
import { withEngine, type EngineEndpoint } from '../engine/endpoint.js';

/**
 * The --all forms visit every environment of every stack file, each on its own
 * engine. An engine that does not answer is asked once, named, and its
 * environments skipped; the others still run.
 */

/** Undefined when the engine in effect answers; otherwise why not, naming the engine. */
export async function engineProblem(runner: Runner): Promise<string | undefined> {
  const cmd = docker.serverVersion();
  const result = await runner.run(cmd, { allowFailure: true });
  if (result.code === 0) return undefined;
  const failed = new CommandFailed(cmd, result);
  return engineUnreachable(result) ? failed.message : failed.message.split('\n').join(' ');
}

/** Whether anything of this environment (containers or volumes with its labels) is on the engine in effect. */
export async function deployedOnEngine(runner: Runner, model: Model): Promise<boolean> {
  const filters = [`label=${LABEL.project}=${model.project}`, `label=${LABEL.env}=${model.env}`];
  if ((await runner.output(docker.listContainerIds(filters, true))) !== '') return true;
  return (await runner.output(docker.listVolumes(filters))) !== '';
}

export type EngineVisit<T> = { engine: EngineEndpoint; model: Model } & ({ outcome: 'done'; value: T } | { outcome: 'unreachable'; error: string });

/**
 * Runs `work` for each target inside its engine, in order. Each engine is
 * asked once whether it answers; the targets of one that does not are
 * reported with its error instead of run.
 */
export async function visitEngines<T>(runner: Runner, targets: ReadonlyArray<{ model: Model; engine: EngineEndpoint }>, work: (model: Model) => Promise<T>): Promise<Array<EngineVisit<T>>> {
  const answers = new Map<string, string | undefined>();
  const visits: Array<EngineVisit<T>> = [];
  for (const { model, engine } of targets) {
    const visit = await withEngine(engine, async (): Promise<EngineVisit<T>> => {
      const key = `${engine.url}\0${engine.tlsCertPath ?? ''}`;
      if (!answers.has(key)) answers.set(key, await engineProblem(runner));
      const problem = answers.get(key);
      if (problem !== undefined) return { engine, model, outcome: 'unreachable', error: problem };
      return { engine, model, outcome: 'done', value: await work(model) };
    });
    visits.push(visit);
  }
  return visits;
}
