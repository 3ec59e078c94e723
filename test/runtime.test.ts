import { readFileSync } from 'node:fs'
import t from 'tap'
import packageJson from '../package.json' with { type: 'json' }

// The suite runs on the runtime the project pins, so a pass means the supported Node passes.
t.test('the tests run on the pinned Node, which engines and .nvmrc name', async (t) => {
  const major = process.versions.node.split('.')[0]
  t.equal(process.versions.node, packageJson.dependencies.node)
  t.equal(packageJson.engines.node, `>=${major} <${Number(major) + 1}`)
  t.equal(readFileSync(new URL('../.nvmrc', import.meta.url), 'utf8').trim(), major)
})
