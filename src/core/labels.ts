/**
 * Parses a labels file. `synset`: one class per line, `n01440764 tench, Tinca tinca`; the label is the
 * first comma-separated name after the WordNet id. `plain`: the line is the label.
 */
export function parseLabels(text: string, format: 'synset' | 'plain'): string[] {
  const lines = text.split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1]?.trim() === '') lines.pop();
  if (format === 'plain') return lines.map((l) => l.trim());
  return lines.map((line) => {
    const name = line.replace(/^n\d{8}\s+/, '');
    return (name.split(',')[0] ?? name).trim();
  });
}
