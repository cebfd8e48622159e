/**
 * Remove what an interrupted network-lab run left (its lp2pm- namespaces and
 * the processes inside them): `npm run test:network:clean`. Every run does
 * this first anyway.
 */
import { removeAll } from './lab.js'

const removed = removeAll()
console.info(removed.length > 0 ? `removed ${removed.join(', ')}` : 'nothing to remove')
