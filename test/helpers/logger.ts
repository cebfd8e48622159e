/**
 * A ComponentLogger that records what the relay's parts log, so tests can
 * check that a refusal or a swallowed error was logged.
 */
import type { ComponentLogger, Logger } from '@libp2p/interface'

export interface LogLine {
  component: string
  level: 'log' | 'error' | 'trace'
  format: string
  args: unknown[]
}

export interface RecordingLogger {
  logger: ComponentLogger
  lines: LogLine[]
  /** the lines whose component starts with `prefix` and whose format matches */
  find(prefix: string, format: RegExp): LogLine[]
}

export function recordingLogger (): RecordingLogger {
  const lines: LogLine[] = []
  const make = (component: string): Logger => {
    const log = ((format: string, ...args: unknown[]) => { lines.push({ component, level: 'log', format, args }) }) as Logger
    log.error = (format: string, ...args: unknown[]) => { lines.push({ component, level: 'error', format, args }) }
    log.trace = (format: string, ...args: unknown[]) => { lines.push({ component, level: 'trace', format, args }) }
    log.enabled = true
    log.newScope = (name: string) => make(`${component}:${name}`)
    return log
  }
  return {
    logger: { forComponent: make },
    lines,
    find: (prefix, format) => lines.filter(l => l.component.startsWith(prefix) && format.test(l.format))
  }
}
