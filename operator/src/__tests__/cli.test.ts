import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ProgramProcess } from '@shardfleet/testing';
import { describe, expect, it } from 'vitest';

const OPERATOR_BIN = fileURLToPath(new URL('../../bin/shardfleet-operator.js', import.meta.url));
const OPERATOR_DIST = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

describe('shardfleet-operator', () => {
  it.each([
    ['PORT', 'eighty'],
    ['LEADER_ELECT', 'sometimes'],
    ['WATCH_NAMESPACES', 'Not_A_Namespace'],
  ])('exits 1 naming %s when it is %j', async (variable, value) => {
    expect(existsSync(OPERATOR_DIST), 'run `npm run build` first').toBe(true);
    const program = new ProgramProcess(process.execPath, [OPERATOR_BIN], {
      env: { PATH: process.env.PATH, [variable]: value },
    });
    const exit = await program.exited;
    expect(exit.code).toBe(1);
    expect(program.output).toContain('shardfleet-operator: invalid environment');
    expect(program.output).toMatch(new RegExp(`^${variable}: `, 'm'));
  });

  it('prints the CRD for kubectl apply -f -', async () => {
    const program = new ProgramProcess(process.execPath, [OPERATOR_BIN, 'crd']);
    expect((await program.exited).code).toBe(0);
    expect(program.output).toMatch(/^kind: CustomResourceDefinition$/m);
    expect(program.output).toMatch(/^ {2}name: discordbots\.shardfleet\.dev$/m);
  });

  it('refuses an unknown command with its usage', async () => {
    const program = new ProgramProcess(process.execPath, [OPERATOR_BIN, 'frobnicate']);
    expect((await program.exited).code).toBe(2);
    expect(program.output).toMatch(/^usage: shardfleet-operator/m);
  });
});
