// `kith method list` and `kith method test`: try consensus rules on sample ballots.
import type { Command } from 'commander';
import fs from 'node:fs';
import { KithError } from '../core/errors.js';
import { parseMethodInput } from '../consensus/ballots.js';
import { CEL_CONTEXT } from '../consensus/cel-method.js';
import { evaluateSpec, checkMethodSpec, parseParamArgs, type MethodSpec } from '../consensus/method-spec.js';
import { METHODS } from '../consensus/methods/index.js';
import type { CliIo } from './cli.js';

type Io = Pick<CliIo, 'out'>;

const collect = (v: string, prev: string[]) => [...prev, v];

export function addMethodCommands(program: Command, io: Io, withCommon: (c: Command) => Command): void {
  const method = program.command('method').description('list the consensus methods, or try one on sample ballots');

  withCommon(method.command('list'))
    .description('the built-in methods with their ballots and parameters, and the CEL context')
    .action((o: { json?: boolean }) => {
      const list = METHODS.map((m) => ({ name: m.name, summary: m.summary, ballots: m.ballots, params: m.params.map((p) => ({ name: p.name, kind: p.kind, default: p.default, ...(p.choices ? { choices: p.choices } : {}), ...(p.min !== undefined ? { min: p.min } : {}), ...(p.max !== undefined ? { max: p.max } : {}), doc: p.doc })) }));
      if (o.json) {
        io.out(JSON.stringify({ methods: list, cel: CEL_CONTEXT }) + '\n');
        return;
      }
      const lines: string[] = [];
      for (const m of list) {
        lines.push(`${m.name.padEnd(14)} ${m.summary}`, `${''.padEnd(14)} ballots: ${m.ballots}`);
        for (const p of m.params) lines.push(`${''.padEnd(14)} --param ${p.name}=… (${p.choices ? p.choices.join('|') : p.kind}, default ${p.default}): ${p.doc}`);
      }
      lines.push('', 'CEL methods (--cel EXPR [--outcome EXPR]) see:');
      for (const [k, v] of Object.entries(CEL_CONTEXT)) lines.push(`  ${k.padEnd(15)} ${v.type.padEnd(22)} ${v.doc}`);
      io.out(lines.join('\n') + '\n');
    });

  withCommon(method.command('test'))
    .description('evaluate a method on sample ballots: --input FILE (JSON: options, participants, ballots, deadlinePassed)')
    .option('--method <name>', 'a built-in method (kith method list)')
    .option('--cel <expr>', 'a CEL expression for "reached"')
    .option('--outcome <expr>', 'with --cel: a CEL expression for the outcome (a string, a list of winners, or a map)')
    .option('--param <k=v>', 'a method parameter (repeatable)', collect, [])
    .requiredOption('--input <file>', 'JSON ballots file ("-" for stdin)')
    .action((o: { json?: boolean; method?: string; cel?: string; outcome?: string; param: string[]; input: string }) => {
      if ((o.method === undefined) === (o.cel === undefined)) throw new KithError('USAGE', 'give exactly one of --method NAME or --cel EXPR');
      let text: string;
      try {
        text = fs.readFileSync(o.input === '-' ? 0 : o.input, 'utf8');
      } catch (e) {
        throw new KithError('METHOD_INPUT', `cannot read ${o.input}: ${(e as NodeJS.ErrnoException).code ?? e}`);
      }
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch (e) {
        throw new KithError('METHOD_INPUT', `${o.input} is not valid JSON: ${(e as Error).message}`);
      }
      const input = parseMethodInput(raw);
      const spec: MethodSpec = o.method !== undefined
        ? { kind: 'builtin', name: o.method, params: parseParamArgs(o.param) }
        : { kind: 'cel', reached: o.cel!, ...(o.outcome !== undefined ? { outcome: o.outcome } : {}) };
      if (spec.kind === 'cel' && o.param.length > 0) throw new KithError('USAGE', '--param is for built-in methods; a CEL method reads its numbers from the expression');
      checkMethodSpec(spec);
      const now = Date.now();
      const r = evaluateSpec(spec, input, { messages: input.ballots.length, deadlineMs: 0, nowMs: now });
      if (o.json) {
        io.out(JSON.stringify(r) + '\n');
        return;
      }
      io.out([
        `reached:  ${r.reached}`,
        `winners:  ${r.outcome.winners.length > 0 ? r.outcome.winners.join(', ') : '(none)'}`,
        `why:      ${r.explanation.summary}`,
        `outcome:  ${JSON.stringify(r.outcome)}`,
      ].join('\n') + '\n');
    });
}
