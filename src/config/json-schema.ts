/**
 * The config schema as JSON Schema (draft 2020-12) for editors: what a user may write, so
 * it describes the input side (sizes and durations as text, defaults as written).
 * Cross-field rules (upstream references, root vs alias, ...) are checked by `portico check`.
 */
import { z } from 'zod';
import { createConfigSchema } from './schema.ts';

export function configJsonSchema(): Record<string, unknown> {
  const schema = createConfigSchema({ baseDir: '.' });
  const json = z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>;
  const { $schema, ...rest } = json;
  return {
    $schema,
    title: 'Portico configuration',
    description:
      'An HTTP gateway to SCGI and FastCGI backends. Sizes: 512, 4k, 10m, 1g. Durations: 500ms, 60s, 5m, 1h.',
    ...rest,
  };
}
