// The diagram generators: machine → model → Mermaid / DOT text (pure; scripts/diagrams.ts writes the files).
import type { AnyStateMachine } from 'xstate';
import { machineModel } from './model.ts';
import { toMermaid } from './mermaid.ts';
import { toDot } from './dot.ts';

export { machineModel, guardLabel, type DiagramModel, type DiagramState, type DiagramEdge } from './model.ts';
export { toMermaid } from './mermaid.ts';
export { toDot } from './dot.ts';

export interface RenderedDiagram {
  readonly mermaid: string;
  readonly dot: string;
}

/** Mermaid and DOT text for one machine; `source` is named in the files' first line. */
export function renderMachine(name: string, machine: AnyStateMachine, source: string): RenderedDiagram {
  const model = machineModel(name, machine);
  return { mermaid: toMermaid(model, source), dot: toDot(model, source) };
}
