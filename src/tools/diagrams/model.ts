// Walks an XState v5 machine (machine.root) into a plain, deterministic graph model for the diagram writers.
import type { AnyStateMachine } from 'xstate';

export type StateType = 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
export type EdgeKind = 'event' | 'always' | 'after' | 'done' | 'error' | 'snapshot';

export interface DiagramState {
  /** Unique id usable in Mermaid and DOT: the key path joined by `_` (sanitised). */
  readonly id: string;
  readonly key: string;
  readonly type: StateType;
  readonly history: 'shallow' | 'deep' | undefined;
  /** Id of the initial child (compound states). */
  readonly initial: string | undefined;
  readonly children: readonly DiagramState[];
  /** Names (src) of the actors this state invokes. */
  readonly invokes: readonly string[];
  /** Named entry / exit actions (built-ins and inline functions left out). */
  readonly entry: readonly string[];
  readonly exit: readonly string[];
  /** Labels of transitions that change no state (no target). */
  readonly internal: readonly string[];
}

export interface DiagramEdge {
  readonly from: string;
  readonly to: string;
  readonly label: string;
  readonly kind: EdgeKind;
}

export interface DiagramModel {
  readonly name: string;
  readonly root: DiagramState;
  readonly edges: readonly DiagramEdge[];
  /** State id → state, and state id → parent id (undefined for the root). */
  readonly byId: ReadonlyMap<string, DiagramState>;
  readonly parentOf: ReadonlyMap<string, string | undefined>;
}

/* Structural view of the XState internals we read (StateNode, TransitionDefinition). */
interface NodeLike {
  readonly key: string;
  readonly id: string;
  readonly path: readonly string[];
  readonly type: StateType;
  readonly history: false | 'shallow' | 'deep';
  readonly states: Record<string, NodeLike>;
  readonly transitions: Map<string, readonly TransitionLike[]>;
  readonly always?: readonly TransitionLike[] | undefined;
  readonly after: readonly { readonly eventType: string; readonly delay: unknown }[];
  readonly invoke: readonly { readonly id: string; readonly src: unknown }[];
  readonly entry: readonly unknown[];
  readonly exit: readonly unknown[];
  readonly initial: { readonly target: readonly NodeLike[] } | undefined;
}
interface TransitionLike {
  readonly target: readonly NodeLike[] | undefined;
  readonly guard?: unknown;
  readonly actions?: readonly unknown[];
}

/** Order of transitions out of one state: plain events first, timers and eventless ones last. */
const KIND_ORDER: readonly EdgeKind[] = ['event', 'done', 'error', 'snapshot', 'after', 'always'];

const RESERVED = new Set(['end', 'state', 'note', 'direction', 'class', 'classDef', 'style', 'click', 'default', 'root']);

function sanitize(part: string): string {
  return part.replace(/[^A-Za-z0-9_]/g, '_');
}

/** `a.b.c` for a state value (or id string); parallel values as `a.b + c.d`. */
function stateValueLabel(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === null || typeof value !== 'object') return String(value);
  return Object.keys(value).sort().map((k) => {
    const inner = stateValueLabel((value as Record<string, unknown>)[k]);
    return inner === '' ? k : `${k}.${inner}`;
  }).join(' + ');
}

/** A readable label for a guard: `name`, `!a`, `a && b`, `a || b`, `in(x)`, `inline`. */
export function guardLabel(guard: unknown): string {
  if (guard === undefined || guard === null) return '';
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') {
    const fn = guard as { name?: string; guards?: unknown[]; stateValue?: unknown };
    const wrap = (g: unknown): string => {
      const s = guardLabel(g);
      return /[ &|]/.test(s) ? `(${s})` : s;
    };
    if (Array.isArray(fn.guards)) {
      if (fn.name === 'not') return `!${wrap(fn.guards[0])}`;
      if (fn.name === 'and') return fn.guards.map(wrap).join(' && ');
      if (fn.name === 'or') return fn.guards.map(wrap).join(' || ');
    }
    if (fn.stateValue !== undefined) return `in(${stateValueLabel(fn.stateValue)})`;
    return fn.name !== undefined && fn.name !== '' && fn.name !== 'guard' ? fn.name : 'inline';
  }
  if (typeof guard === 'object' && 'type' in guard) return String((guard as { type: unknown }).type);
  return 'inline';
}

/** Name of a named action, undefined for built-ins (xstate.*) and inline functions. */
function actionName(action: unknown): string | undefined {
  let name: string | undefined;
  if (typeof action === 'string') name = action;
  else if (action !== null && typeof action === 'object' && 'type' in action) name = String((action as { type: unknown }).type);
  else if (typeof action === 'function') {
    const type: unknown = (action as unknown as { type?: unknown }).type;
    if (typeof type === 'string') name = type;
  }
  return name === undefined || name.startsWith('xstate.') ? undefined : name;
}

function srcName(src: unknown, id: string): string {
  if (typeof src === 'string') return src;
  const named = (src as { id?: unknown; config?: { id?: unknown } } | null);
  if (typeof named?.config?.id === 'string') return named.config.id;
  return id;
}

function delayLabel(delay: unknown): string {
  return typeof delay === 'number' ? `${delay}ms` : typeof delay === 'string' ? delay : 'delay';
}

/** Builds the model for one machine; `name` is the diagram's name (e.g. `container`). */
export function machineModel(name: string, machine: AnyStateMachine): DiagramModel {
  const rootNode = machine.root as unknown as NodeLike;
  const idOf = new Map<NodeLike, string>();
  const used = new Set<string>();
  const assignIds = (node: NodeLike, isRoot: boolean): void => {
    let id = isRoot ? 'root' : node.path.map(sanitize).join('_') || '_';
    if (!isRoot && (RESERVED.has(id) || /^[0-9]/.test(id))) id = `s_${id}`;
    const base = id;
    for (let i = 2; used.has(id); i++) id = `${base}_${i}`;
    used.add(id);
    idOf.set(node, id);
    for (const child of Object.values(node.states)) assignIds(child, false);
  };
  assignIds(rootNode, true);

  const byId = new Map<string, DiagramState>();
  const parentOf = new Map<string, string | undefined>();
  const edges: DiagramEdge[] = [];

  const build = (node: NodeLike, parent: string | undefined): DiagramState => {
    const id = idOf.get(node)!;
    const invokeSrc = new Map(node.invoke.map((inv) => [inv.id, srcName(inv.src, inv.id)]));
    const afterDelay = new Map(node.after.map((a) => [a.eventType, delayLabel(a.delay)]));
    const internal: string[] = [];
    const eventLabel = (eventType: string): { label: string; kind: EdgeKind } => {
      for (const [prefix, kind, word] of [
        ['xstate.done.actor.', 'done', 'onDone'], ['xstate.error.actor.', 'error', 'onError'],
        ['xstate.snapshot.actor.', 'snapshot', 'onSnapshot'],
      ] as const) {
        if (eventType.startsWith(prefix)) {
          const invokeId = eventType.slice(prefix.length);
          return { label: `${word} ${invokeSrc.get(invokeId) ?? invokeId}`, kind };
        }
      }
      if (eventType.startsWith('xstate.done.state.')) return { label: 'onDone', kind: 'done' };
      const delay = afterDelay.get(eventType);
      if (delay !== undefined) return { label: `after ${delay}`, kind: 'after' };
      return { label: eventType, kind: 'event' };
    };
    const addTransitions = (label: string, kind: EdgeKind, list: readonly TransitionLike[]): void => {
      for (const t of list) {
        const guard = guardLabel(t.guard);
        const full = guard === '' ? label : `${label} [${guard}]`;
        // A transition that changes no state is known by what it does: its named actions.
        const actions = (t.actions ?? []).map(actionName).filter((n): n is string => n !== undefined);
        if (t.target === undefined || t.target.length === 0) internal.push(actions.length === 0 ? full : `${full} / ${actions.join(', ')}`);
        else for (const target of t.target) edges.push({ from: id, to: idOf.get(target)!, label: full, kind });
      }
    };
    const eventTypes = [...node.transitions.keys()].sort((a, b) => {
      const [la, lb] = [eventLabel(a), eventLabel(b)];
      return KIND_ORDER.indexOf(la.kind) - KIND_ORDER.indexOf(lb.kind) || la.label.localeCompare(lb.label) || a.localeCompare(b);
    });
    for (const eventType of eventTypes) {
      const { label, kind } = eventLabel(eventType);
      addTransitions(label, kind, node.transitions.get(eventType) ?? []);
    }
    addTransitions('always', 'always', node.always ?? []);

    parentOf.set(id, parent);
    const children = Object.values(node.states).map((child) => build(child, id));
    const initialTarget = node.type === 'compound' ? node.initial?.target[0] : undefined;
    const state: DiagramState = {
      id,
      key: node.key,
      type: node.type,
      history: node.type === 'history' ? (node.history === 'deep' ? 'deep' : 'shallow') : undefined,
      initial: initialTarget !== undefined ? idOf.get(initialTarget) : undefined,
      children,
      invokes: node.invoke.map((inv) => srcName(inv.src, inv.id)),
      entry: node.entry.map(actionName).filter((n): n is string => n !== undefined),
      exit: node.exit.map(actionName).filter((n): n is string => n !== undefined),
      internal,
    };
    byId.set(id, state);
    return state;
  };
  const root = build(rootNode, undefined);
  return { name, root, edges, byId, parentOf };
}

/** Ids of `id` and all its ancestors, innermost first. */
export function ancestry(model: DiagramModel, id: string): string[] {
  const out: string[] = [];
  for (let cur: string | undefined = id; cur !== undefined; cur = model.parentOf.get(cur)) out.push(cur);
  return out;
}

/** True when `inner` is `outer` or lies inside it. */
export function isWithin(model: DiagramModel, inner: string, outer: string): boolean {
  return ancestry(model, inner).includes(outer);
}

/** The innermost compound (non-parallel) state that contains both ends of an edge; the root at worst. */
export function edgeScope(model: DiagramModel, edge: DiagramEdge): string {
  const fromChain = ancestry(model, edge.from).slice(1); // strictly above the source
  const toChain = new Set(ancestry(model, edge.to).slice(1));
  for (const id of fromChain) {
    if (toChain.has(id) && model.byId.get(id)?.type !== 'parallel') return id;
  }
  return model.root.id;
}

/** Whether the root has anything of its own worth drawing as an outer box. */
export function rootIsDrawn(model: DiagramModel): boolean {
  const r = model.root;
  return model.edges.some((e) => e.from === r.id || e.to === r.id) || r.invokes.length > 0 ||
    r.entry.length > 0 || r.exit.length > 0 || r.internal.length > 0 || r.type === 'parallel';
}

/** The note lines of a state: invokes, entry/exit actions, events it handles without changing state. */
export function stateNotes(state: DiagramState): string[] {
  const lines: string[] = [];
  if (state.invokes.length > 0) lines.push(`invoke ${state.invokes.join(', ')}`);
  if (state.entry.length > 0) lines.push(`entry ${state.entry.join(', ')}`);
  if (state.exit.length > 0) lines.push(`exit ${state.exit.join(', ')}`);
  if (state.internal.length > 0) lines.push(`handles ${state.internal.join(', ')}`);
  return lines;
}
