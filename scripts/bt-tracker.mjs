// Runs bittorrent-tracker (npm) on loopback for btext's interop tests:
//   node bt-tracker.mjs NPM_DIR PORT
// HTTP and UDP on 127.0.0.1:PORT, UDP also on [::1]:PORT, no WebSocket, no
// stats page. Prints "listening" once every socket is bound; exits 1 with
// one line on stderr when one cannot be.
import { pathToFileURL } from 'node:url'

const [dir, port] = process.argv.slice(2)
// The package's main entry fails to load under Node (it pulls in the
// WebRTC client); the server entry alone works.
const { default: Server } = await import(
  pathToFileURL(`${dir}/node_modules/bittorrent-tracker/server.js`).href)

const server = new Server({ http: true, udp: true, ws: false, stats: false })
server.on('error', err => {
  console.error(`bt-tracker: ${err.message}`)
  process.exit(1)
})
// Warnings are a client's bad request (a missing port, an unknown action):
// they are answered with a failure reason; log them for the test's log.
server.on('warning', err => console.log(`warning: ${err.message}`))
server.listen(Number(port), { http: '127.0.0.1', udp: '127.0.0.1', udp6: '::1' }, () => {
  console.log('listening')
})
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => server.close(() => process.exit(0)))
}
