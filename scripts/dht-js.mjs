// A loopback DHT of bittorrent-dht (npm, 11.0.12) nodes, one announcing.
//
// usage: node scripts/dht-js.mjs [--nodes N]     (scripts/install-dht.sh first)
//
// Starts N nodes (default 5) on 127.0.0.1, node 0 with no bootstrap router at
// all, each other one bootstrapped from the nodes before it. The last node
// announces a random info hash with port 51413. Ready when node 0's lookup
// returns that peer; then one JSON line goes to stdout:
//
//   {"nodes": ["127.0.0.1:P", ...], "info_hash": "<hex>", "peer": "127.0.0.1:51413"}
//
// and the nodes run until stdin closes or SIGTERM. Logs go to stderr.
import { randomBytes } from 'node:crypto'
import { fileURLToPath, pathToFileURL } from 'node:url'
import path from 'node:path'

const here = path.dirname(fileURLToPath(import.meta.url))
// The package lives in scripts/.dht-npm (install-dht.sh), not beside us.
const { default: DHT } = await import(pathToFileURL(path.join(here, '.dht-npm', 'node_modules', 'bittorrent-dht', 'index.js')).href)

const args = process.argv.slice(2)
let n = 5
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--nodes') n = Number(args[++i])
  else { console.error(`dht-js: unknown argument ${args[i]}`); process.exit(2) }
}
if (!(n >= 2 && n <= 100)) { console.error('dht-js: --nodes must be 2..100'); process.exit(2) }

const log = (m) => process.stderr.write(`${(Date.now() / 1000).toFixed(3)} dht-js: ${m}\n`)
const fail = (m) => { log(m); process.exit(1) }
setTimeout(() => fail('not ready in 60 s'), 60000).unref()

const listen = (dht) => new Promise((resolve, reject) => {
  dht.once('error', reject)
  dht.listen(0, '127.0.0.1', () => resolve(`127.0.0.1:${dht.address().port}`))
})

const nodes = []
const addrs = []
for (let i = 0; i < n; i++) {
  // bootstrap: false keeps node 0 off the real routers; the others only
  // know loopback nodes.
  const dht = new DHT({ bootstrap: i === 0 ? false : addrs.slice(), host: false })
  dht.on('warning', (err) => log(`node ${i} warning: ${err.message}`))
  addrs.push(await listen(dht))
  if (i > 0) await new Promise((resolve) => dht.ready ? resolve() : dht.once('ready', resolve))
  nodes.push(dht)
}
// Node 0 learnt of the others only as they queried it; give it their
// addresses so its table is as full as theirs.
for (const a of addrs.slice(1)) {
  const [host, port] = a.split(':')
  nodes[0].addNode({ host, port: Number(port) })
}

const infoHash = randomBytes(20).toString('hex')
const port = 51413
const announcer = nodes[n - 1]
await new Promise((resolve, reject) => announcer.announce(infoHash, port, (err) => err ? reject(err) : resolve()))

// Ready: node 0's lookup finds the announced peer.
const peer = `127.0.0.1:${port}`
for (let tries = 0; ; tries++) {
  const found = await new Promise((resolve) => {
    let seen = false
    const onPeer = (p) => { if (`${p.host}:${p.port}` === peer) seen = true }
    nodes[0].on('peer', onPeer)
    nodes[0].lookup(infoHash, () => { nodes[0].removeListener('peer', onPeer); resolve(seen) })
  })
  if (found) break
  if (tries > 20) fail('the announce never became visible')
  await new Promise((resolve) => setTimeout(resolve, 250))
}
process.stdout.write(JSON.stringify({ nodes: addrs, info_hash: infoHash, peer }) + '\n')

const stop = () => {
  for (const d of nodes) d.destroy()
  process.exit(0)
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
process.stdin.on('end', stop)
process.stdin.on('close', stop)
process.stdin.resume()
