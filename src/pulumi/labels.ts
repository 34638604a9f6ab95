/** One Docker label as the provider's `labels` list takes it. */
export interface LabelEntry {
  label: string;
  value: string;
}

/**
 * The Docker provider takes labels as a list of {label, value}; the model keeps
 * them as a record because that is what Compose and `docker inspect` show.
 */
export function labelList(labels: Record<string, string>): LabelEntry[] {
  return Object.entries(labels).map(([label, value]) => ({ label, value }));
}
