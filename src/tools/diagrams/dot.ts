// Writes a diagram model as Graphviz DOT (clusters for compound states) for `dot -Tsvg`.
import { isWithin, rootIsDrawn, stateNotes, type DiagramModel, type DiagramState } from './model.ts';

function quote(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

/** Breaks a long `a, b, c` note after commas so boxes stay narrow. */
function wrap(line: string, width = 44): string {
  const parts = line.split(', ');
  const lines: string[] = [];
  for (const part of parts) {
    const last = lines.length - 1;
    if (last >= 0 && lines[last]!.length + part.length + 2 <= width) lines[last] += `, ${part}`;
    else lines.push(part);
  }
  return lines.join(',\n');
}

const isComposite = (s: DiagramState): boolean => s.children.length > 0;
/** The node edges attach to when they start or end at a composite: its initial point or an invisible anchor. */
const anchorOf = (s: DiagramState): string => `${s.id}__start`;

/** DOT text for one machine; the first line is a comment naming where it came from. */
export function toDot(model: DiagramModel, source: string): string {
  const out: string[] = [
    `// ${model.name}: generated from ${source} by npm run diagrams (do not edit)`,
    `digraph ${quote(model.name)} {`,
    '  compound=true;',
    '  rankdir=TB;',
    '  newrank=true;',
    '  fontname="Helvetica";',
    '  node [shape=box, style="rounded", fontname="Helvetica", fontsize=11];',
    '  edge [fontname="Helvetica", fontsize=9];',
  ];

  const writeState = (state: DiagramState, pad: string): void => {
    const notes = stateNotes(state);
    const label = [state.type === 'history' ? (state.history === 'deep' ? 'H*' : 'H') : state.key, ...notes.map((n) => wrap(n))].join('\n');
    if (!isComposite(state)) {
      const attrs = [`label=${quote(label)}`];
      if (state.type === 'final') attrs.push('peripheries=2');
      if (state.type === 'history') attrs.push('shape=circle', 'style=""');
      out.push(`${pad}${quote(state.id)} [${attrs.join(', ')}];`);
      return;
    }
    out.push(`${pad}subgraph ${quote(`cluster_${state.id}`)} {`);
    const inner = `${pad}  `;
    out.push(`${inner}label=${quote(label)};`);
    out.push(`${inner}style=${state.type === 'parallel' ? '"rounded,dashed"' : '"rounded"'};`);
    if (state.initial !== undefined) {
      out.push(`${inner}${quote(anchorOf(state))} [shape=point, width=0.12, label=""];`);
      out.push(`${inner}${quote(anchorOf(state))} -> ${quote(state.initial)};`);
    } else {
      out.push(`${inner}${quote(anchorOf(state))} [shape=point, style=invis, width=0.01, label=""];`);
    }
    for (const child of state.children) writeState(child, inner);
    out.push(`${pad}}`);
  };

  const drawRoot = rootIsDrawn(model);
  if (drawRoot) {
    writeState(model.root, '  ');
  } else {
    if (model.root.initial !== undefined) {
      out.push(`  ${quote(anchorOf(model.root))} [shape=point, width=0.12, label=""];`);
      out.push(`  ${quote(anchorOf(model.root))} -> ${quote(model.root.initial)};`);
    }
    for (const child of model.root.children) writeState(child, '  ');
  }

  for (const edge of model.edges) {
    const from = model.byId.get(edge.from)!;
    const to = model.byId.get(edge.to)!;
    const attrs = [`label=${quote(edge.label)}`];
    if (edge.kind === 'error') attrs.push('color="firebrick"', 'fontcolor="firebrick"');
    if (edge.kind === 'after' || edge.kind === 'always') attrs.push('style=dashed');
    if (isComposite(from) && !isWithin(model, to.id, from.id)) attrs.push(`ltail=${quote(`cluster_${from.id}`)}`);
    if (isComposite(to) && !isWithin(model, from.id, to.id)) attrs.push(`lhead=${quote(`cluster_${to.id}`)}`);
    const tail = isComposite(from) ? anchorOf(from) : from.id;
    const head = isComposite(to) ? anchorOf(to) : to.id;
    out.push(`  ${quote(tail)} -> ${quote(head)} [${attrs.join(', ')}];`);
  }
  out.push('}');
  return `${out.join('\n')}\n`;
}
