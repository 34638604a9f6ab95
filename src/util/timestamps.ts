/**
 * UTC timestamps as names: `YYYYMMDDTHHMMSSZ` (basic ISO 8601), the names of
 * backup sets (the contract), runbook run logs and kept copies. They sort in
 * time order as strings.
 */

export const UTC_STAMP = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

/** `2026-11-24T09:07:23.329Z` -> `20261124T090723Z`. */
export function utcStamp(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
}

/** `20261124T090723Z` -> the Date it names; throws for anything else. */
export function timeOfStamp(stamp: string): Date {
  const m = UTC_STAMP.exec(stamp);
  if (m === null) throw new Error(`not a UTC timestamp name (YYYYMMDDTHHMMSSZ): ${stamp}`);
  return new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
}
