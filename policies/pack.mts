// The stowage CrossGuard policies: one Pulumi policy per rule of src/policy,
// same id, same severity, same check. Each rule runs where the resources it
// needs are visible:
//   container rules  on each docker.Container (validateResource)
//   image rules      on each docker.Container and docker.RemoteImage
//   volume rules     on each docker.Volume, and on the whole stack for
//                    bind-mounted volumes, which have no resource of their own
//   stack rules      on the whole stack (validateStack): who writes or reads what

import { fileURLToPath } from 'node:url';
import type {
  Policies,
  PolicyResource,
  ReportViolation,
  ResourceValidation,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidation,
  StackValidationArgs,
  StackValidationPolicy,
} from '@pulumi/policy';
import { LABEL } from '../src/config/model.js';
import { RULES } from '../src/policy/rules.js';
import type { ContainerFacts, Finding, ImageFacts, PolicyInput, Rule, Scope, VolumeFacts } from '../src/policy/types.js';
import { DeclarationFinder, stackNameOfUrn, type Declarations } from './declarations.mjs';
import { bindVolumeFacts, containerFacts, dockerVolumeFacts, environmentFacts } from './resource-facts.mjs';
import { containerProps, labelsOf, remoteImageProps, RESOURCE_TYPES, volumeProps } from './resource-props.mjs';

export const PACK_NAME = 'stowage';

export interface PackOptions {
  /** Where `<app>.yaml` stack files are: what the resources are checked against. */
  stacksDir: string;
}

/** $STOWAGE_STACKS_DIR, else the repository's stacks/ beside this pack. */
export function defaultStacksDir(env: NodeJS.ProcessEnv = process.env): string {
  return env['STOWAGE_STACKS_DIR'] ?? fileURLToPath(new URL('../stacks/', import.meta.url));
}

const SCOPE_TYPES: Record<Scope, readonly string[]> = {
  container: [RESOURCE_TYPES.container],
  image: [RESOURCE_TYPES.container, RESOURCE_TYPES.remoteImage],
  volume: [RESOURCE_TYPES.volume],
  stack: [],
};

function violationText(finding: Finding): string {
  return `${finding.message}\nfix: ${finding.fix}`;
}

function usersOf(decl: Declarations | undefined, reference: string): string[] {
  return (decl?.model.containers ?? []).filter((c) => c.image === reference).map((c) => c.name);
}

/** One resource as the rules see it: itself, its environment, nothing else. */
function resourceInput(args: ResourceValidationArgs, finder: DeclarationFinder): PolicyInput | undefined {
  const stackName = stackNameOfUrn(args.urn);
  const empty = { containers: [], volumes: [], images: [] };
  switch (args.type) {
    case RESOURCE_TYPES.container: {
      const props = containerProps(args.props, args.name);
      const labels = labelsOf(props.labels);
      const decl = finder.find(stackName, labels);
      const container = containerFacts(props, args.name, decl);
      const images = props.image === undefined ? [] : [{ reference: props.image, usedBy: [container.name] }];
      return { ...environmentFacts(stackName, labels, decl), ...empty, containers: [container], images };
    }
    case RESOURCE_TYPES.volume: {
      const props = volumeProps(args.props, args.name);
      const labels = labelsOf(props.labels);
      const decl = finder.find(stackName, labels);
      return { ...environmentFacts(stackName, labels, decl), ...empty, volumes: [dockerVolumeFacts(props, args.name, decl)] };
    }
    case RESOURCE_TYPES.remoteImage: {
      const props = remoteImageProps(args.props, args.name);
      const decl = finder.find(stackName, {});
      const images = props.name === undefined ? [] : [{ reference: props.name, usedBy: usersOf(decl, props.name) }];
      return { ...environmentFacts(stackName, {}, decl), ...empty, images };
    }
    default:
      return undefined;
  }
}

interface StackView {
  input: PolicyInput;
  /** Bind-mounted volumes: checked here because no resource of their own exists. */
  bindVolumes: VolumeFacts[];
  /** Resource URN by engine name, so a violation points at its resource. */
  urns: Map<string, string>;
}

function stackView(resources: PolicyResource[], finder: DeclarationFinder): StackView {
  const ofType = (type: string): PolicyResource[] => resources.filter((r) => r.type === type);
  const containerResources = ofType(RESOURCE_TYPES.container).map((r) => ({ r, props: containerProps(r.props, r.name) }));
  const volumeResources = ofType(RESOURCE_TYPES.volume).map((r) => ({ r, props: volumeProps(r.props, r.name) }));
  const imageResources = ofType(RESOURCE_TYPES.remoteImage).map((r) => ({ r, props: remoteImageProps(r.props, r.name) }));

  const stackName = resources.map((r) => stackNameOfUrn(r.urn)).find((name) => name !== undefined);
  const labels = [...containerResources, ...volumeResources].map(({ props }) => labelsOf(props.labels)).find((l) => l[LABEL.project] !== undefined) ?? {};
  const decl = finder.find(stackName, labels);

  const urns = new Map<string, string>();
  const containers: ContainerFacts[] = containerResources.map(({ r, props }) => {
    const facts = containerFacts(props, r.name, decl);
    urns.set(facts.name, r.urn);
    return facts;
  });
  const dockerVolumes = volumeResources.map(({ r, props }) => {
    const facts = dockerVolumeFacts(props, r.name, decl);
    urns.set(facts.name, r.urn);
    return facts;
  });
  const images = new Map<string, ImageFacts>();
  const addImage = (reference: string, usedBy: string[], urn: string): void => {
    const known = images.get(reference);
    images.set(reference, { reference, usedBy: [...new Set([...(known?.usedBy ?? []), ...usedBy])] });
    if (!urns.has(reference)) urns.set(reference, urn);
  };
  for (const { r, props } of imageResources) if (props.name !== undefined) addImage(props.name, usersOf(decl, props.name), r.urn);
  for (const { r, props } of containerResources) if (props.image !== undefined) addImage(props.image, [props.name ?? r.name], r.urn);

  const bindVolumes = bindVolumeFacts(containers, decl);
  return {
    input: { ...environmentFacts(stackName, labels, decl), containers, volumes: [...dockerVolumes, ...bindVolumes], images: [...images.values()] },
    bindVolumes,
    urns,
  };
}

function resourceValidation(rule: Rule, finder: DeclarationFinder): ResourceValidation {
  return (args, reportViolation) => {
    if (!SCOPE_TYPES[rule.scope].includes(args.type)) return;
    const input = resourceInput(args, finder);
    if (input === undefined) return;
    for (const finding of rule.check(input)) reportViolation(violationText(finding));
  };
}

function stackValidation(rule: Rule, finder: DeclarationFinder, only: 'everything' | 'bind-volumes'): StackValidation {
  return (args: StackValidationArgs, reportViolation: ReportViolation) => {
    const view = stackView(args.resources, finder);
    const input = only === 'everything' ? view.input : { ...view.input, volumes: view.bindVolumes };
    for (const finding of rule.check(input)) reportViolation(violationText(finding), view.urns.get(finding.object.name));
  };
}

function policyFor(rule: Rule, finder: DeclarationFinder): ResourceValidationPolicy | StackValidationPolicy {
  const base = {
    name: rule.id,
    description: rule.description,
    enforcementLevel: rule.severity,
    severity: rule.severity === 'mandatory' ? ('high' as const) : ('low' as const),
    remediationSteps: `See docs/policies.md#${rule.id}; check stack files the same way with npx zx scripts/lint.mjs.`,
  };
  switch (rule.scope) {
    case 'stack':
      return { ...base, validateStack: stackValidation(rule, finder, 'everything') };
    case 'volume':
      return { ...base, validateResource: resourceValidation(rule, finder), validateStack: stackValidation(rule, finder, 'bind-volumes') };
    case 'container':
    case 'image':
      return { ...base, validateResource: resourceValidation(rule, finder) };
  }
}

export function createPolicies(options: PackOptions): Policies {
  const finder = new DeclarationFinder(options.stacksDir);
  return RULES.map((rule) => policyFor(rule, finder));
}
