// The IAM check itself is tested: a template that lost one thing a recorded request needs must
// fail, naming the function, the action and what is missing. Run by `make iam-check`.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const template = readFileSync(join(here, '..', '..', 'template.yaml'), 'utf8')

/** Runs the check on a copy of the template with `edit` applied; returns [exit code, output]. */
function checkWith(edit) {
  const mutated = edit(template)
  assert.ok(mutated !== template, 'the edit must change the template (has the text it looks for moved?)')
  const path = join(mkdtempSync(join(tmpdir(), 'iam-check-')), 'template.yaml')
  writeFileSync(path, mutated)
  try {
    return [0, execFileSync('node', [join(here, 'check.mjs'), '--template', path], { encoding: 'utf8', stdio: 'pipe' })]
  } catch (e) {
    return [e.status, `${e.stdout}${e.stderr}`]
  }
}

test('the committed template passes', () => {
  const [code, output] = checkWith((t) => t + '\n')
  assert.equal(code, 0, output)
})

test('an attribute the idempotency record needs, removed from create-session, is named', () => {
  const [code, output] = checkWith((t) => t.replace('expiresIn, ledgerId, ttl]', 'expiresIn, ttl]'))
  assert.equal(code, 1, output)
  assert.match(output, /DENIED create-session: dynamodb:PutItem \(in TransactWriteItems\) on IDEM#\{id\} \/ IDEM#\{id\} .*attribute\(s\) ledgerId/)
})

test('an action a function uses, removed, is named', () => {
  const [code, output] = checkWith((t) => t.replace('Action: [dynamodb:GetItem, dynamodb:Query]', 'Action: [dynamodb:GetItem]'))
  assert.equal(code, 1, output)
  assert.match(output, /DENIED roll-key: dynamodb:Query on KEY#\{id\}.*the action itself/)
})

test('a leading key a function writes, removed, is named', () => {
  const [code, output] = checkWith((t) => t.replace('dynamodb:LeadingKeys: ["KEYHASH#*"]\n                ForAllValues:StringEquals:\n                  dynamodb:Attributes: [pk, sk, deletedAt]', 'dynamodb:LeadingKeys: ["KEY#*"]\n                ForAllValues:StringEquals:\n                  dynamodb:Attributes: [pk, sk, deletedAt]'))
  assert.equal(code, 1, output)
  assert.match(output, /DENIED delete-key: dynamodb:UpdateItem \(in TransactWriteItems\) on KEYHASH#\{id\}.*leading key KEYHASH#\{id\}/)
})

test('a widened policy lets a forbidden request through and fails', () => {
  // create-session may move credits down, never grant them.
  const [code, output] = checkWith((t) => t.replace('dynamodb:Attributes: [pk, sk, credits, debited, version', 'dynamodb:Attributes: [pk, sk, credits, granted, debited, version'))
  assert.equal(code, 1, output)
  assert.match(output, /ALLOWED but must be denied: create-session: dynamodb:UpdateItem on ACCOUNT#\{id\} \/ ACCOUNT/)
})

test('a policy widened to an item class no recorded request needs fails the generated table', () => {
  // The ledger function writes ledger, audit and event items; hash lookups are not its to write.
  const [code, output] = checkWith((t) =>
    t.replace(
      'dynamodb:LeadingKeys: ["LEDGER#*", "AUDIT#*", "EVENT#*"]\n                ForAllValues:StringEquals:\n                  dynamodb:Attributes: [pk, sk, id, kind',
      'dynamodb:LeadingKeys: ["LEDGER#*", "AUDIT#*", "EVENT#*", "KEYHASH#*"]\n                ForAllValues:StringEquals:\n                  dynamodb:Attributes: [pk, sk, id, kind',
    ),
  )
  assert.equal(code, 1, output)
  assert.match(output, /ALLOWED but no recorded request needs it: ledger: dynamodb:BatchWriteItem on KEYHASH#\{id\} \/ KEYHASH \(key only\)/)
})

test('a gap that the policies close must be struck from gaps.json', async () => {
  const { check, loadTemplate } = await import('./check.mjs')
  const recorded = JSON.parse(readFileSync(join(here, 'requests.json'), 'utf8'))
  const gaps = JSON.parse(readFileSync(join(here, 'gaps.json'), 'utf8'))
  // The ledger function cannot read hash lookups at all: listing that as a gap is stale.
  const stale = { function: 'ledger', action: 'dynamodb:GetItem', leadingKey: 'KEYHASH#{id}', sortKeys: ['KEYHASH'], variant: 'item', why: 'test' }
  const { failures } = await check(loadTemplate(join(here, '..', '..', 'template.yaml')), recorded, [], [...gaps, stale])
  assert.deepEqual(failures, [
    'denied now, but still listed in gaps.json: ledger: dynamodb:GetItem on KEYHASH#{id} / KEYHASH (item) — strike it from the list',
  ])
})
