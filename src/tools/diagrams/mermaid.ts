// Writes a diagram model as Mermaid stateDiagram-v2 text (nested composite states, labelled transitions).
import { edgeScope, rootIsDrawn, stateNotes, type DiagramEdge, type DiagramModel, type DiagramState } from './model.ts';

/** Mermaid labels end at a newline and dislike `;`, `#`, braces and quotes: keep them plain. */
function clean(text: string): string {
  return text.replace(/[;#{}"]/g, (c) => ({ ';': ',', '#': '', '{': '(', '}': ')', '"': "'" })[c] ?? '').replace(/\s+/g, ' ').trim();
}

function title(state: DiagramState): string {
  if (state.type === 'history') return state.history === 'deep' ? 'H*' : 'H';
  return state.key;
}

/** Mermaid text for one machine; the first line is a comment naming where it came from. */
export function toMermaid(model: DiagramModel, source: string): string {
  const out: string[] = [`%% ${model.name}: generated from ${source} by npm run diagrams (do not edit)`, 'stateDiagram-v2'];
  const drawRoot = rootIsDrawn(model);
  const edgesByScope = new Map<string, DiagramEdge[]>();
  for (const edge of model.edges) {
    // An edge that touches the drawn root box is written outside it (scope '').
    const touchesRoot = edge.from === model.root.id || edge.to === model.root.id;
    const scope = touchesRoot ? '' : edgeScope(model, edge);
    edgesByScope.set(scope, [...(edgesByScope.get(scope) ?? []), edge]);
  }

  const writeEdges = (scope: string, pad: string): void => {
    for (const e of edgesByScope.get(scope) ?? []) out.push(`${pad}${e.from} --> ${e.to} : ${clean(e.label)}`);
  };
  /** Writes the body of a composite (its children, initial, finals and its edges). */
  const writeBody = (state: DiagramState, pad: string): void => {
    if (state.type === 'parallel') {
      state.children.forEach((child, i) => {
        if (i > 0) out.push(`${pad}--`);
        writeState(child, pad);
      });
    } else {
      if (state.initial !== undefined) out.push(`${pad}[*] --> ${state.initial}`);
      for (const child of state.children) writeState(child, pad);
      for (const child of state.children) if (child.type === 'final') out.push(`${pad}${child.id} --> [*]`);
    }
    writeEdges(state.id, pad);
  };
  const writeState = (state: DiagramState, pad: string): void => {
    const notes = stateNotes(state).map(clean);
    const composite = state.children.length > 0;
    const label = clean(composite && notes.length > 0 ? `${title(state)} · ${notes.join(' · ')}` : title(state));
    if (label !== state.id) out.push(`${pad}state "${label}" as ${state.id}`);
    if (composite) {
      out.push(`${pad}state ${state.id} {`);
      writeBody(state, `${pad}  `);
      out.push(`${pad}}`);
    } else {
      if (label === state.id) out.push(`${pad}${state.id}`);
      for (const note of notes) out.push(`${pad}${state.id} : ${note}`);
    }
  };

  if (drawRoot) {
    out.push(`  [*] --> ${model.root.id}`);
    writeState(model.root, '  ');
    writeEdges('', '  ');
  } else {
    writeBody(model.root, '  ');
  }
  return `${out.join('\n')}\n`;
}
