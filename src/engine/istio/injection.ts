// Whether a pod template gets an Istio sidecar, read as Istio's injector reads it. Rules about
// sidecar behaviour (ports that bypass it) apply only where there is one, and the mutation
// leaves a template alone that opts out.
import { asStringMap, dig } from '../read.js';
import type { Policy } from '../types.js';

const INJECT = 'sidecar.istio.io/inject';

/** A template's own injection choice: `in`, `out`, or `default` (the namespace decides). */
export type InjectionChoice = 'in' | 'out' | 'default';

/** istio.io/istio pkg/kube/inject/webhook.go `injectRequired`: y, yes, true, on opt in
 * (case-insensitive); empty means the default; any other value opts out. */
function choiceOf(value: string | undefined): InjectionChoice | undefined {
  if (value === undefined) return undefined;
  const v = value.toLowerCase();
  if (v === '') return 'default';
  return v === 'y' || v === 'yes' || v === 'true' || v === 'on' ? 'in' : 'out';
}

function settings(template: unknown): { label?: InjectionChoice; annotation?: InjectionChoice } {
  const label = choiceOf(asStringMap(dig(template, 'metadata', 'labels'))?.[INJECT]);
  const annotation = choiceOf(asStringMap(dig(template, 'metadata', 'annotations'))?.[INJECT]);
  return { ...(label ? { label } : {}), ...(annotation ? { annotation } : {}) };
}

/**
 * The choice Istio's injector makes from the template alone: the label wins over the annotation
 * when both are present (`injectRequired`: "if both are present we prefer the label").
 * @param template a pod template (`metadata.labels`, `metadata.annotations`); any JSON value.
 */
export function injectionChoice(template: unknown): InjectionChoice {
  const { label, annotation } = settings(template);
  return label ?? annotation ?? 'default';
}

/** True when either the label or the annotation opts out (the product design: such a
 * template is left alone, whatever the other says). */
export function optsOutAnywhere(template: unknown): boolean {
  const { label, annotation } = settings(template);
  return label === 'out' || annotation === 'out';
}

/**
 * Whether pods from this template get a sidecar, as far as the template and the policy tell:
 * not when Istio's choice is an opt-out, nor, under `mutations.onlyInjected` (meshes where pods
 * opt in, as in OSSM 2.x), when the template does not opt in. A template that leaves it to the
 * namespace is assumed to get one.
 */
export function getsSidecar(template: unknown, policy: Policy): boolean {
  const choice = injectionChoice(template);
  if (choice === 'out') return false;
  return !(policy.mutations.onlyInjected && choice !== 'in');
}
