/**
 * The README's quick starts are the example files, verbatim: the first code
 * block under each quick-start heading must equal its file (the files are
 * what the other tests run).
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const read = (path: string): string => readFileSync(`${ROOT}${path}`, 'utf8')

/** The body of the first fenced code block after the line `heading`. */
function blockAfter (markdown: string, heading: string): string {
  const at = markdown.split('\n').indexOf(heading)
  if (at < 0) throw new Error(`README.md has no line "${heading}"`)
  const block = /^```[a-z]*\n([\s\S]*?)^```$/m.exec(markdown.split('\n').slice(at + 1).join('\n'))
  if (block == null) throw new Error(`README.md has no code block after "${heading}"`)
  return block[1]
}

describe('README quick starts', () => {
  const readme = read('README.md')

  it('the Node quick start is examples/node-quickstart.mjs', () => {
    expect(blockAfter(readme, '## Quick start (Node)')).toBe(read('examples/node-quickstart.mjs'))
  })

  it('the browser quick start is examples/browser/main.js', () => {
    expect(blockAfter(readme, '## Quick start (browser)')).toBe(read('examples/browser/main.js'))
  })
})
