/** A friendly suggestion for a display name ("Brave Otter"), so joining is one click. */
const ADJECTIVES = ['Brave', 'Calm', 'Clever', 'Cosmic', 'Curious', 'Gentle', 'Happy', 'Lucky', 'Mellow', 'Nimble', 'Quiet', 'Rapid', 'Sunny', 'Swift', 'Witty', 'Zesty']
const ANIMALS = ['Badger', 'Falcon', 'Fox', 'Heron', 'Koala', 'Lynx', 'Marten', 'Narwhal', 'Otter', 'Owl', 'Panda', 'Puffin', 'Raven', 'Seal', 'Tiger', 'Wombat']

export function suggestName (): string {
  const pick = <T>(list: T[]): T => list[Math.floor(Math.random() * list.length)]
  return `${pick(ADJECTIVES)} ${pick(ANIMALS)}`
}

/** Display names and room names: trimmed, single-spaced, bounded. */
export function clean (value: string | null | undefined, max: number): string | undefined {
  const v = (value ?? '').replace(/\s+/g, ' ').trim().slice(0, max)
  return v === '' ? undefined : v
}
