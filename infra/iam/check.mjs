// Proves the functions' IAM policies against what the functions really do, offline.
//
//   node infra/iam/check.mjs [--template PATH] [--mutations] [--print-gaps]
//
// Each function's policy (and each service role's: roles.json) is resolved from template.yaml (intrinsics substituted with the
// parameters' defaults) and evaluated by @cloud-copilot/iam-simulate, a full IAM policy
// evaluator:
//   - every request shape the tests recorded (requests.json) must be Allowed;
//   - every request in must-deny.json must be denied;
//   - every (function × item class × action) no recorded request needs (generatedMustDeny)
//     must be denied, unless gaps.json lists it as what IAM cannot tell apart (and then it must
//     still be allowed, so a closed gap is struck); --print-gaps prints the allowed ones;
//   - with --mutations: removing any single action, attribute name or leading-key pattern from
//     any statement must make a recorded request fail. That is the policies' least privilege:
//     nothing in them is unused, and a policy that lost something a request needs is caught,
//     naming the function, the action and what is missing.
// Exits 1 on any failure.

import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runSimulation } from '@cloud-copilot/iam-simulate'
import { parseDocument } from 'yaml'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..', '..')
const args = process.argv.slice(2)
const templatePath = args.includes('--template') ? args[args.indexOf('--template') + 1] : join(root, 'template.yaml')

// A stack as it would be deployed: one account, one region.
const ACCOUNT = '123456789012'
const PSEUDO = { 'AWS::Partition': 'aws', 'AWS::Region': 'us-east-1', 'AWS::AccountId': ACCOUNT, 'AWS::URLSuffix': 'amazonaws.com' }
const TABLE_ARN = `arn:aws:dynamodb:us-east-1:${ACCOUNT}:table/visionpipe-Table`
const ROLE = `arn:aws:iam::${ACCOUNT}:role/visionpipe-function`
/** What `{id}` in a recorded key stands for when a request is evaluated. */
const EXAMPLE_ID = 'acct_example'

// ---------------------------------------------------------------- template → policies

export function loadTemplate(path) {
  const tag = (name, resolve) => ({ tag: `!${name}`, resolve: (value) => ({ [name]: value }), ...(resolve ?? {}) })
  const customTags = ['Ref', 'GetAtt', 'Sub', 'Join', 'If', 'Equals', 'Not', 'Select', 'Split', 'FindInMap', 'GetAZs', 'ImportValue', 'Condition']
    .flatMap((name) => ['scalar', 'seq', 'map'].map((collection) => ({ ...tag(name), collection: collection === 'scalar' ? undefined : collection })))
  const doc = parseDocument(readFileSync(path, 'utf8'), { customTags })
  if (doc.errors.length) throw new Error(`${path}: ${doc.errors.map((e) => e.message).join('; ')}`)
  return doc.toJS()
}

function resolver(template) {
  const params = Object.fromEntries(Object.entries(template.Parameters ?? {}).map(([k, v]) => [k, String(v.Default ?? '')]))
  const refValue = (name) => {
    if (name in PSEUDO) return PSEUDO[name]
    if (name in params) return params[name]
    if (name === 'Table') return 'visionpipe-Table'
    return `${name}-physical-id`
  }
  const resolve = (value) => {
    if (Array.isArray(value)) return value.map(resolve)
    if (value && typeof value === 'object') {
      if ('Ref' in value) return refValue(value.Ref)
      if ('GetAtt' in value) {
        const [resource, attribute] = Array.isArray(value.GetAtt) ? value.GetAtt : String(value.GetAtt).split('.')
        if (resource === 'Table' && attribute === 'Arn') return TABLE_ARN
        if (resource === 'Table' && attribute === 'StreamArn') return `${TABLE_ARN}/stream/2026-01-01T00:00:00.000`
        const type = template.Resources?.[resource]?.Type
        if (attribute === 'Arn' && type === 'AWS::Events::EventBus') return `arn:aws:events:us-east-1:${ACCOUNT}:event-bus/${resource}-physical-id`
        if (attribute === 'Arn' && type === 'AWS::SQS::Queue') return `arn:aws:sqs:us-east-1:${ACCOUNT}:${resource}-physical-id`
        return `arn:aws:unknown:us-east-1:${ACCOUNT}:${resource}/${attribute}`
      }
      if ('Sub' in value) {
        const [text, vars] = Array.isArray(value.Sub) ? [value.Sub[0], resolve(value.Sub[1])] : [value.Sub, {}]
        return text.replace(/\$\{([^}]+)\}/g, (_, name) => (name in vars ? vars[name] : name.endsWith('.Arn') ? resolve({ GetAtt: name }) : refValue(name)))
      }
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v)]))
    }
    return value
  }
  return resolve
}

/** function name (its CodeUri folder) → { logicalId, statements } */
export function functionPolicies(template) {
  const resolve = resolver(template)
  const functions = {}
  for (const [logicalId, resource] of Object.entries(template.Resources ?? {})) {
    if (resource.Type !== 'AWS::Serverless::Function') continue
    const name = String(resource.Properties.CodeUri).split('/').pop()
    const statements = []
    for (const policy of resource.Properties.Policies ?? []) {
      if (typeof policy === 'string') throw new Error(`${logicalId}: managed policy ${policy} cannot be evaluated offline; write its statements inline`)
      if (!policy.Statement) throw new Error(`${logicalId}: only inline statements are supported, got ${JSON.stringify(Object.keys(policy))}`)
      statements.push(...resolve(policy.Statement))
    }
    functions[name] = { logicalId, statements }
  }
  // Roles of AWS services (the credit-events pipe), named by their logical id: their requests
  // are what the service does with the role, from its documentation (roles.json).
  for (const [logicalId, resource] of Object.entries(template.Resources ?? {})) {
    if (resource.Type !== 'AWS::IAM::Role') continue
    const statements = (resource.Properties.Policies ?? []).flatMap((policy) => resolve(policy.PolicyDocument.Statement))
    functions[logicalId] = { logicalId, statements }
  }
  return functions
}

// ---------------------------------------------------------------- requests → simulations

const fill = (key) => key.replaceAll('{id}', EXAMPLE_ID)

/** One IAM request per (action, resource) a shape stands for. */
function iamRequests(shape) {
  if (shape.action.startsWith('ssm:')) {
    return shape.parameters.map((name) => ({
      action: shape.action,
      resource: `arn:aws:ssm:us-east-1:${ACCOUNT}:parameter${name.startsWith('/') ? '' : '/'}${name}`,
      context: {},
    }))
  }
  const context = {}
  if (shape.leadingKey) context['dynamodb:LeadingKeys'] = [fill(shape.leadingKey)]
  if (shape.attributes?.length) context['dynamodb:Attributes'] = shape.attributes
  if (shape.returnValues) context['dynamodb:ReturnValues'] = shape.returnValues
  if (shape.select) context['dynamodb:Select'] = shape.select
  return [{ action: shape.action, resource: shape.resource ?? TABLE_ARN, context }]
}

/** A hand-written shape may name its resource as the template does (`{"GetAtt": "Bus.Arn"}`). */
const resolveShapes = (template, shapes) => {
  const resolve = resolver(template)
  return shapes.map((shape) => (shape.resource && typeof shape.resource === 'object' ? { ...shape, resource: resolve(shape.resource) } : shape))
}

async function decide(statements, request) {
  const result = await runSimulation(
    {
      request: { principal: ROLE, action: request.action, resource: { resource: request.resource, accountId: ACCOUNT }, contextVariables: request.context },
      identityPolicies: [{ name: 'function-policy', policy: { Version: '2012-10-17', Statement: statements } }],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    },
    {},
  )
  if (result.errors) throw new Error(`the evaluator refused ${JSON.stringify(request)}: ${JSON.stringify(result.errors)}`)
  return result.result.analysis.result
}

async function allowed(statements, shape) {
  for (const request of iamRequests(shape)) {
    if ((await decide(statements, request)) !== 'Allowed') return false
  }
  return true
}

/** What a denied request lacks: each attribute name no statement allows, or the leading key, or the action. */
async function missing(statements, shape) {
  const bare = { ...shape, attributes: [] }
  if (!(await allowed(statements, bare))) {
    if (shape.leadingKey && (await allowed(statements, { ...bare, leadingKey: undefined }))) return `leading key ${shape.leadingKey}`
    return 'the action itself (no statement allows it on this resource)'
  }
  const culprits = []
  for (const attribute of shape.attributes ?? []) {
    if (!(await allowed(statements, { ...shape, attributes: [attribute] }))) culprits.push(attribute)
  }
  return culprits.length ? `attribute(s) ${culprits.join(', ')}` : 'this combination of attributes in any one statement'
}

const describe = (shape) =>
  `${shape.function}: ${shape.action}${shape.via ? ` (in ${shape.via})` : ''} on ${shape.leadingKey ?? shape.parameters?.join(',') ?? 'the table'}${shape.sortKey ? ` / ${shape.sortKey}` : ''}`

// ---------------------------------------------------------------- the generated must-deny table

const READS = ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query']
const WRITES = ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem']
const WRITES_WITH_ITEMS = new Set(['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:BatchWriteItem'])
const classOf = (shape) => `${shape.leadingKey} ${shape.sortKey}`

/**
 * Every (function × item class × action) that no recorded request of that function needs, as
 * a request that must be denied. The item classes are those the recorded requests touch; a
 * write is tried twice: with every attribute its class is written with (the item as the code
 * writes it), and with its key alone (an overwrite that blanks the item, or an upsert that makes
 * one). Functions that reach no table get the same rows: nothing of the table is theirs.
 */
export function generatedMustDeny(policies, recorded) {
  const tableShapes = recorded.filter((s) => s.action.startsWith('dynamodb:') && s.leadingKey)
  const classes = new Map()
  for (const shape of tableShapes) {
    const entry = classes.get(classOf(shape)) ?? { leadingKey: shape.leadingKey, sortKey: shape.sortKey, attributes: new Set(['pk', 'sk']) }
    if (WRITES_WITH_ITEMS.has(shape.action)) (shape.attributes ?? []).forEach((a) => entry.attributes.add(a))
    classes.set(classOf(shape), entry)
  }
  const needed = new Set(tableShapes.map((s) => `${s.function} ${s.action} ${classOf(s)}`))
  const rows = []
  for (const fn of Object.keys(policies).filter((name) => !/^[A-Z]/.test(name)).sort()) {
    for (const [key, cls] of [...classes].sort()) {
      for (const action of [...READS, ...WRITES]) {
        if (needed.has(`${fn} ${action} ${key}`)) continue
        const base = { function: fn, action, leadingKey: cls.leadingKey, sortKey: cls.sortKey, generated: true }
        if (WRITES_WITH_ITEMS.has(action)) {
          rows.push({ ...base, attributes: [...cls.attributes].sort(), variant: 'item' })
          rows.push({ ...base, attributes: ['pk', 'sk'], variant: 'key only' })
        } else rows.push({ ...base, attributes: [], variant: 'item' })
      }
    }
  }
  return rows
}

const gapKey = (row) => `${row.function} ${row.action} ${row.leadingKey} ${row.sortKey} ${row.variant}`

// ---------------------------------------------------------------- the checks

export async function check(template, recorded, mustDeny, gaps = []) {
  // Shapes may name their resource as the template does (the SQS queue): resolved here, so
  // every caller gets the same.
  recorded = resolveShapes(template, recorded)
  mustDeny = resolveShapes(template, mustDeny)
  const policies = functionPolicies(template)
  const failures = []
  const counts = {}
  for (const shape of recorded) {
    const policy = policies[shape.function]
    counts[shape.function] ??= { allowed: 0, denied: 0 }
    if (!policy) {
      failures.push(`${shape.function}: no such function in the template`)
      continue
    }
    if (await allowed(policy.statements, shape)) counts[shape.function].allowed++
    else failures.push(`DENIED ${describe(shape)} — ${policy.logicalId}'s policy lacks ${await missing(policy.statements, shape)}`)
  }
  // The generated table: what the layout lets IAM tell apart must be denied; what it cannot
  // (gaps.json, each with its reason) must still be allowed, so that a gap closed by a better
  // layout is noticed and struck from the list.
  const knownGaps = new Map(gaps.flatMap((g) => g.sortKeys.map((sortKey) => [gapKey({ ...g, sortKey }), g])))
  const generated = generatedMustDeny(policies, recorded)
  const seenGaps = new Set()
  let generatedDenied = 0
  for (const row of generated) {
    const isAllowed = await allowed(policies[row.function].statements, row)
    const gap = knownGaps.get(gapKey(row))
    if (gap) seenGaps.add(gapKey(row))
    if (isAllowed && !gap) failures.push(`ALLOWED but no recorded request needs it: ${describe(row)} (${row.variant}) — add a condition, or list it in gaps.json with why IAM cannot tell it apart`)
    else if (!isAllowed && gap) failures.push(`denied now, but still listed in gaps.json: ${describe(row)} (${row.variant}) — strike it from the list`)
    else if (!isAllowed) generatedDenied++
  }
  for (const [key, gap] of knownGaps) if (!seenGaps.has(key)) failures.push(`gaps.json lists what no generated row is (a function's request now recorded, or a class gone): ${key}`)
  counts.generated = { rows: generated.length, denied: generatedDenied, gaps: seenGaps.size }
  for (const shape of mustDeny) {
    const policy = policies[shape.function]
    counts[shape.function] ??= { allowed: 0, denied: 0 }
    if (!policy) {
      failures.push(`${shape.function}: no such function in the template`)
      continue
    }
    if (await allowed(policy.statements, shape)) failures.push(`ALLOWED but must be denied: ${describe(shape)} — ${shape.why}`)
    else counts[shape.function].denied++
  }
  return { failures, counts }
}

/** Every single-element removal from every statement must break a recorded request. */
export async function mutations(template, recorded) {
  recorded = resolveShapes(template, recorded)
  const policies = functionPolicies(template)
  const survivors = []
  let tried = 0
  for (const [name, { logicalId, statements }] of Object.entries(policies)) {
    const mine = recorded.filter((s) => s.function === name)
    const variants = []
    statements.forEach((statement, i) => {
      const actions = [statement.Action].flat()
      actions.forEach((action) => variants.push({ what: `action ${action}`, i, edit: (s) => ({ ...s, Action: actions.filter((a) => a !== action) }) }))
      for (const [operator, keys] of Object.entries(statement.Condition ?? {})) {
        for (const [key, values] of Object.entries(keys)) {
          ;[values].flat().forEach((value) =>
            variants.push({
              what: `${key} ${value}`,
              i,
              edit: (s) => ({ ...s, Condition: { ...s.Condition, [operator]: { ...s.Condition[operator], [key]: [values].flat().filter((v) => v !== value) } } }),
            }),
          )
        }
      }
    })
    for (const variant of variants) {
      tried++
      const mutated = statements.map((s, j) => (j === variant.i ? variant.edit(s) : s)).filter((s) => [s.Action].flat().length > 0)
      let broken = null
      for (const shape of mine) {
        if (!(await allowed(mutated, shape))) {
          broken = shape
          break
        }
      }
      if (!broken) survivors.push(`${name} (${logicalId}) statement ${variant.i + 1}: ${variant.what} is in the policy but no recorded request needs it`)
    }
  }
  return { tried, survivors }
}

async function main() {
  const template = loadTemplate(templatePath)
  // Recorded from the functions by the tests, plus the service roles' documented requests.
  const roles = JSON.parse(readFileSync(join(here, 'roles.json'), 'utf8'))
  const recorded = resolveShapes(template, [...JSON.parse(readFileSync(join(here, 'requests.json'), 'utf8')), ...roles.requests])
  const mustDeny = resolveShapes(template, [...JSON.parse(readFileSync(join(here, 'must-deny.json'), 'utf8')), ...roles.mustDeny])
  const gaps = JSON.parse(readFileSync(join(here, 'gaps.json'), 'utf8'))
  const { failures, counts } = await check(template, recorded, mustDeny, gaps)
  const { generated } = counts
  delete counts.generated
  for (const [name, c] of Object.entries(counts).sort()) console.log(`${name.padEnd(15)} ${String(c.allowed).padStart(3)} recorded requests allowed, ${String(c.denied).padStart(3)} forbidden requests denied`)
  console.log(`generated must-deny: ${generated.rows} rows (function × item class × action no recorded request needs), ${generated.denied} denied, ${generated.gaps} known gaps (gaps.json)`)
  if (args.includes('--print-gaps')) {
    const policies = functionPolicies(template)
    for (const row of generatedMustDeny(policies, recorded)) if (await allowed(policies[row.function].statements, row)) console.log(JSON.stringify({ function: row.function, action: row.action, leadingKey: row.leadingKey, sortKey: row.sortKey, variant: row.variant }))
  }
  if (args.includes('--mutations')) {
    const { tried, survivors } = await mutations(template, recorded)
    console.log(`mutations: ${tried} single removals from the policies, ${tried - survivors.length} caught by a recorded request`)
    failures.push(...survivors)
  }
  if (failures.length) {
    console.error(`\n${failures.length} IAM problem(s) in ${templatePath}:\n  ${failures.join('\n  ')}`)
    process.exit(1)
  }
  console.log(`IAM check passed: ${templatePath}`)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(e.stack ?? String(e))
    process.exit(2)
  })
}
