// Methods over single choices: unanimity, majority, supermajority, consent, RSVP count,
// acknowledgement by all. "reached" means the decision is final: either it cannot change any
// more (an option already holds more than the threshold of everyone eligible, or everyone has
// voted and the rule is met), or the deadline has passed (then the outcome may be "no decision":
// winners []).
import { allVoted, votersOf, type MethodInput } from '../ballots.js';
import { leader, optionsOf, result, tallyChoices, type MethodDef, type MethodResult, type Params } from './common.js';

export const unanimity: MethodDef = {
  name: 'unanimity',
  summary: 'everyone who votes chooses the same option; everyone eligible must have voted (abstentions allowed)',
  ballots: 'choice (or the first of a ranking)',
  params: [],
  evaluate(input) {
    const options = optionsOf(input);
    const t = tallyChoices('unanimity', input, options);
    const chosen = Object.entries(t.votes).filter(([, v]) => v > 0).map(([k]) => k);
    const unanimous = chosen.length === 1;
    const everyone = allVoted(input);
    const outcome = { winners: unanimous && everyone ? chosen : [], unanimous: unanimous && everyone, votes: t.votes, abstained: t.abstained };
    if (unanimous && everyone) return result(true, outcome, `everyone chose ${chosen[0]}`, { tally: t.votes });
    const why = chosen.length > 1 ? `votes are split between ${chosen.join(', ')}` : chosen.length === 0 ? 'no votes yet' : `${input.eligible - votersOf(input)} of ${input.eligible} have not voted`;
    return result(input.deadlinePassed, outcome, input.deadlinePassed ? `deadline passed without unanimity: ${why}` : `not unanimous yet: ${why}`, { tally: t.votes });
  },
};

export const majority: MethodDef = {
  name: 'majority',
  summary: 'an option with more than half of the votes cast (of: "cast", abstentions excluded) or of all participants (of: "all")',
  ballots: 'choice (or the first of a ranking)',
  params: [{ name: 'of', kind: 'choice', choices: ['cast', 'all'], default: 'cast', doc: 'base of the majority: votes cast, or all eligible participants' }],
  evaluate(input, params) {
    const options = optionsOf(input);
    const t = tallyChoices('majority', input, options);
    const base = params['of'] === 'all' ? input.eligible : t.cast;
    const { top, winner, max } = leader(t.votes, input.tieSeed);
    const hasMajority = winner !== undefined && max * 2 > base && top.length === 1;
    // Certain before everyone votes: more than half of everyone eligible already chose it.
    const certain = winner !== undefined && max * 2 > input.eligible;
    const final = certain || allVoted(input) || input.deadlinePassed;
    const outcome = { winners: final && hasMajority ? [winner] : [], votes: t.votes, base, needed: Math.floor(base / 2) + 1 };
    const summary = hasMajority
      ? `${winner} has ${max} of ${base} (more than half)${final ? '' : ', not final until everyone has voted or the deadline'}`
      : `no option has more than half of ${base}`;
    return result(final && (hasMajority || input.deadlinePassed), outcome, summary, { tally: t.votes, of: params['of'] });
  },
};

/** Quorum: a whole number of voters, or (below 1) a fraction of the eligible participants. */
function quorumOf(q: number, eligible: number): number {
  return q > 0 && q < 1 ? Math.ceil(q * eligible) : q;
}

export const supermajority: MethodDef = {
  name: 'supermajority',
  summary: 'an option with at least k/n of the votes cast, once a quorum of participants has voted',
  ballots: 'choice (or the first of a ranking)',
  params: [
    { name: 'k', kind: 'int', default: 2, min: 1, doc: 'numerator of the threshold' },
    { name: 'n', kind: 'int', default: 3, min: 1, doc: 'denominator of the threshold (k/n ≤ 1)' },
    { name: 'quorum', kind: 'number', default: 0, min: 0, doc: 'ballots that must be cast (abstentions count): a whole number, or a fraction below 1 of the participants' },
  ],
  evaluate(input, params) {
    const k = params['k'] as number;
    const n = params['n'] as number;
    const options = optionsOf(input);
    const t = tallyChoices('supermajority', input, options);
    const voters = votersOf(input);
    const quorum = quorumOf(params['quorum'] as number, input.eligible);
    const quorumMet = voters >= quorum;
    const { top, winner, max } = leader(t.votes, input.tieSeed);
    // Exact integer arithmetic: votes/cast >= k/n  <=>  votes*n >= k*cast.
    const meets = winner !== undefined && t.cast > 0 && max * n >= k * t.cast && (top.length === 1 || k * 2 > n);
    const certain = winner !== undefined && max * n >= k * input.eligible && quorumMet;
    const final = certain || allVoted(input) || input.deadlinePassed;
    const ok = meets && quorumMet;
    const outcome = { winners: final && ok ? [winner!] : [], votes: t.votes, threshold: `${k}/${n}`, cast: t.cast, quorum, quorumMet };
    const summary = !quorumMet ? `quorum not met: ${voters} of ${quorum} ballots` : ok ? `${winner} has ${max} of ${t.cast} (at least ${k}/${n})` : `no option has ${k}/${n} of ${t.cast} votes cast`;
    return result(final && (ok || input.deadlinePassed), outcome, summary, { tally: t.votes });
  },
};

export const CONSENT_STANCES = ['agree', 'abstain', 'disagree', 'block'] as const;

export const consent: MethodDef = {
  name: 'consent',
  summary: 'adopted when nobody blocks and at least minAgree agree: at the deadline, or earlier once everyone has answered; silence counts as consent only from participants whose nodes provably received the proposal',
  ballots: 'choice of agree, abstain, disagree, block',
  params: [{ name: 'minAgree', kind: 'int', default: 1, min: 0, doc: 'agreements needed' }],
  fixedOptions: CONSENT_STANCES,
  evaluate(input, params) {
    const t = tallyChoices('consent', { ...input, options: [...CONSENT_STANCES] }, CONSENT_STANCES.filter((s) => s !== 'abstain'));
    const votes = { agree: t.votes['agree']!, abstain: t.abstained, disagree: t.votes['disagree']!, block: t.votes['block']! };
    const blocked = votes.block > 0;
    const enough = votes.agree >= (params['minAgree'] as number);
    // Silence is consent only from someone who had the proposal: a participant whose node never
    // provably received it (no message of theirs, not even a receipt) makes it not adopted.
    const unaware = Math.max(0, input.eligible - Math.max(input.informed ?? input.eligible, votersOf(input)));
    const consented = !blocked && enough && unaware === 0;
    const reached = input.deadlinePassed || (allVoted(input) && consented);
    const outcome = { winners: reached && consented ? ['agree'] : [], consented: reached && consented, blocked, votes, unaware };
    const summary = blocked
      ? `${votes.block} block${votes.block === 1 ? '' : 's'}`
      : !enough
        ? `only ${votes.agree} agree of ${params['minAgree']} needed`
        : unaware > 0
          ? `no block and ${votes.agree} agree, but ${unaware} participant${unaware === 1 ? '' : 's'} never provably received the proposal`
          : `no block and ${votes.agree} agree`;
    return result(reached, outcome, summary, { tally: votes });
  },
};

export const RSVP_ANSWERS = ['yes', 'no', 'maybe'] as const;

export const rsvp: MethodDef = {
  name: 'rsvp',
  summary: 'at least min "yes" answers: decided at the deadline, or once every invitee has answered',
  ballots: 'choice of yes, no, maybe',
  params: [{ name: 'min', kind: 'int', default: 1, min: 0, doc: '"yes" answers needed' }],
  fixedOptions: RSVP_ANSWERS,
  evaluate(input, params) {
    const t = tallyChoices('rsvp', { ...input, options: [...RSVP_ANSWERS] }, RSVP_ANSWERS);
    const enough = t.votes['yes']! >= (params['min'] as number);
    const reached = input.deadlinePassed || allVoted(input);
    const outcome = { winners: reached && enough ? ['yes'] : [], enough, yes: t.votes['yes']!, no: t.votes['no']!, maybe: t.votes['maybe']!, min: params['min'] as number };
    return result(reached, outcome, `${t.votes['yes']} yes, ${t.votes['no']} no, ${t.votes['maybe']} maybe; ${params['min']} needed`, { tally: t.votes });
  },
};

export const acknowledge: MethodDef = {
  name: 'acknowledge',
  summary: 'every eligible participant has acknowledged (at the deadline: decided, acknowledged or not)',
  ballots: 'choice "ack"',
  params: [],
  fixedOptions: ['ack'],
  evaluate(input): MethodResult {
    const t = tallyChoices('acknowledge', { ...input, options: ['ack'] }, ['ack']);
    const acked = t.votes['ack']!;
    const all = acked >= input.eligible;
    const outcome = { winners: all ? ['ack'] : [], acknowledged: all, acks: acked, of: input.eligible };
    return result(all || input.deadlinePassed, outcome, `${acked} of ${input.eligible} acknowledged`);
  },
};

export type { Params, MethodInput };
