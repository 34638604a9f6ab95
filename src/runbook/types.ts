// A runbook file as written, after schema validation (schemas/runbook.schema.json).
// These types mirror the schema; ajv's compiled validator is the type guard
// that lets parsed YAML become a RunbookFile.

export const OPS = ['backup', 'verify', 'restore', 'fix-permissions', 'disk-usage', 'clean-start', 'drift', 'inspect', 'compose', 'secrets', 'lint'] as const;
export type OpName = (typeof OPS)[number];

/** Operations that replace or remove data: a step calling one must say `confirm: true`. */
export const DESTRUCTIVE_OPS: ReadonlySet<string> = new Set(['restore', 'clean-start', 'fix-permissions']);

export const ACTIONS = ['record-images', 'rollback-images', 'missing-volumes', 'drill-restore', 'drill-check', 'drill-remove'] as const;
export type ActionName = (typeof ACTIONS)[number];

export interface RunbookVariable {
  description: string;
  default?: string;
  enum?: string[];
}

export interface Condition {
  var?: string;
  in?: string[];
  started?: string;
  failed?: string;
  succeeded?: string;
  set?: string;
}

export type CaptureSpec = { json: string; stdout?: undefined; lines?: undefined } | { stdout: true; json?: undefined; lines?: undefined } | { lines: true; json?: undefined; stdout?: undefined };

export interface Until {
  lines?: string[];
  stdout?: string;
}

export interface RunbookStep {
  id: string;
  title: string;
  description?: string;
  op?: OpName;
  args?: string[];
  run?: string[];
  compose?: string[];
  action?: ActionName;
  with?: Record<string, string>;
  when?: Condition;
  forEach?: string;
  confirm?: boolean;
  expectExit?: number[];
  retry?: { attempts: number; delaySeconds?: number };
  until?: Until;
  capture?: Record<string, CaptureSpec>;
  timeoutSeconds?: number;
}

export interface RunbookFile {
  runbook: string;
  title: string;
  description: string;
  vars?: Record<string, RunbookVariable>;
  steps: RunbookStep[];
  onFailure?: RunbookStep[];
}

export type Phase = 'steps' | 'onFailure';

/** A step with where it sits, so messages and the journal can name it. */
export interface PlacedStep {
  step: RunbookStep;
  phase: Phase;
  index: number;
}

export function placedSteps(book: RunbookFile): PlacedStep[] {
  return [
    ...book.steps.map((step, index): PlacedStep => ({ step, phase: 'steps', index })),
    ...(book.onFailure ?? []).map((step, index): PlacedStep => ({ step, phase: 'onFailure', index })),
  ];
}
