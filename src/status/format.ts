import { formatBytes } from '../cli/progress.js';

/** Shared by the terminal table, the HTML page and the messages, so all three say the same thing. */
export { formatBytes };

/** 42 min, 5.5 h, 3.2 days. */
export function formatAge(seconds: number): string {
  if (seconds < 3_600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${trim((seconds / 3_600).toFixed(1))} h`;
  return `${trim((seconds / 86_400).toFixed(1))} days`;
}

/** 850 ms, 12.3 s, 4 min 05 s, 1 h 02 min. */
export function formatSeconds(seconds: number): string {
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const whole = Math.round(seconds);
  if (whole < 3_600) return `${Math.floor(whole / 60)} min ${String(whole % 60).padStart(2, '0')} s`;
  return `${Math.floor(whole / 3_600)} h ${String(Math.floor((whole % 3_600) / 60)).padStart(2, '0')} min`;
}

/** +1.2 MiB/day, -300 B/day. */
export function formatGrowth(bytesPerDay: number): string {
  return `${bytesPerDay < 0 ? '-' : '+'}${formatBytes(Math.abs(bytesPerDay))}/day`;
}

/** 4.2 days below ten, whole days above. */
export function formatDays(days: number): string {
  return `${days < 10 ? trim(days.toFixed(1)) : String(Math.round(days))} days`;
}

export function formatPercent(percent: number): string {
  return `${percent.toFixed(1)}%`;
}

/** 2026-11-24 09:07 UTC: the same on every machine, whatever its time zone. */
export function formatTime(iso: string): string {
  return iso.replace('T', ' ').replace(/:\d{2}(\.\d+)?Z$/, ' UTC');
}

export function formatDate(iso: string): string {
  return iso.slice(0, 10);
}

/** backups.maxAge as the stack file would say it. */
export function formatMaxAge(seconds: number): string {
  if (seconds % 604_800 === 0) return `${seconds / 604_800}w`;
  if (seconds % 86_400 === 0) return `${seconds / 86_400}d`;
  if (seconds % 3_600 === 0) return `${seconds / 3_600}h`;
  return `${Math.round(seconds / 60)}m`;
}

function trim(text: string): string {
  return text.replace(/\.0$/, '');
}
