// Browser quick start: every tab that opens this page joins the room 'quickstart' on a local
// relay, greets each peer that joins, and shows what it receives.
//   terminal 1:  npm run relay                 (prints "relay listening on /ip4/127.0.0.1/tcp/9090/ws/p2p/12D3…")
//   terminal 2:  npx vite examples/browser
//   browser:     http://localhost:5173/?relay=/ip4/127.0.0.1/tcp/9090/ws/p2p/12D3…   (in two tabs)
import { createMessenger, json } from 'libp2p-messenger'
import { createBrowserNode } from 'libp2p-messenger/browser'

/** @typedef {{ text: string }} Chat  what the peers send each other */

const RELAY_MULTIADDR = new URLSearchParams(location.search).get('relay')
const status = (text) => { document.querySelector('#status').textContent = text }

/** Show one message on the page. */
function render (from, data) {
  const li = document.createElement('li')
  li.textContent = `${from.toString().slice(-6)}: ${data.text}`
  document.querySelector('#messages').append(li)
}

if (RELAY_MULTIADDR == null) {
  status('Add ?relay=<the address `npm run relay` printed> to this page\'s URL.')
} else {
  const node = await createBrowserNode({
    relays: [RELAY_MULTIADDR],
    room: 'quickstart',
    // a relay you start on your own machine is plain ws:// on 127.0.0.1, which a browser
    // libp2p node refuses to dial by default; this lets it dial the configured relays (only those).
    // Leave it out in production, with a relay on wss:// at a public address.
    allowInsecureRelays: true
  })
  /** @type {import('libp2p-messenger').Messenger<Chat>} */
  const chat = createMessenger(node, { protocol: '/quickstart/chat/1.0.0', codec: json() })
  const me = node.peerId.toString().slice(-6)
  status(`I am …${me}, waiting for peers in the room 'quickstart' (open this page in another tab)`)

  chat.addEventListener('peer:join', (e) => {
    status(`I am …${me}, connected to ${chat.peers().length} peer(s)`)
    chat.send(e.detail, { text: `hello from ${me}` })
  })
  chat.addEventListener('error', (e) => { console.warn('messenger:', e.detail.error) })

  const form = document.querySelector('#form')
  const input = document.querySelector('#text')
  for (const el of form.elements) el.disabled = false
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    if (input.value.trim() === '') return
    chat.broadcast({ text: input.value })
    render(node.peerId, { text: input.value })
    input.value = ''
  })

  for await (const { from, data } of chat) render(from, data)
}
