/**
 * The deploy files agree with the command line (issue #15): Dockerfile, docker-compose.yml
 * and .dockerignore against SPEC §4 as the code implements it (server/cli, common/config).
 * Docker itself is not on the development machines, so nothing here builds or runs an
 * image: the files are read and checked against the CLI's own parsing and options.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { main } from '../../server/cli';
import { normalizeViewOptions, normalizeReplicaOptions, ConfigError, DEFAULTS, type Env } from '../../common/config';

const ROOT = path.resolve(__dirname, '..', '..');
const read = (file: string): string => fs.readFileSync(path.join(ROOT, file), 'utf8');

/** One Dockerfile instruction, continuation lines joined. */
interface Instruction { op: string; args: string }

function instructions(text: string): Instruction[] {
  const joined = text.replace(/\\\r?\n/g, ' ');
  return joined.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
    .map((l) => { const m = /^(\S+)\s+(.*)$/.exec(l)!; return { op: m[1].toUpperCase(), args: m[2] }; });
}

/** The stages of a Dockerfile: name and instructions. */
function stages(text: string): { name: string; from: string; body: Instruction[] }[] {
  const out: { name: string; from: string; body: Instruction[] }[] = [];
  for (const ins of instructions(text)) {
    if (ins.op === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args)!;
      out.push({ from: m[1], name: m[2] ?? String(out.length), body: [] });
    } else if (out.length > 0) {
      out[out.length - 1].body.push(ins);
    }
  }
  return out;
}

/** Run the CLI with `argv`, output swallowed; resolves to its exit code. */
async function cli(argv: string[]): Promise<number> {
  const write = process.stdout.write;
  const writeErr = process.stderr.write;
  process.stdout.write = (() => true) as typeof process.stdout.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    return await main(argv);
  } finally {
    process.stdout.write = write;
    process.stderr.write = writeErr;
  }
}

/** Expand compose's `${NAME:-default}` with the defaults (what `docker compose config` does with NAME unset). */
function expand(value: unknown): string {
  return String(value).replace(/\$\{([A-Z_]+):-([^}]*)\}/g, (_m, _name, dflt: string) => dflt);
}

const ROLES = { view: normalizeViewOptions, replica: normalizeReplicaOptions } as const;
type Role = keyof typeof ROLES;

/**
 * Whether `role`'s option parsing reads the variable `name` of `env`: changing its value
 * either changes the options or is refused (a misspelt name does neither).
 */
function reads(role: Role, env: Env, name: string): boolean {
  const before = JSON.stringify(ROLES[role]({}, env));
  try {
    return JSON.stringify(ROLES[role]({}, { ...env, [name]: `${env[name]}1` })) !== before;
  } catch (err) {
    if (err instanceof ConfigError) return true;
    throw err;
  }
}

interface Service { environment: Record<string, unknown>; ports?: string[]; volumes?: string[]; depends_on?: Record<string, unknown>; build?: unknown; image?: string }

describe('deploy files agree with the command line (issue #15, SPEC §4)', () => {
  const dockerfile = stages(read('Dockerfile'));
  const runtime = dockerfile[dockerfile.length - 1];
  const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service>; volumes?: Record<string, unknown> };
  const envOf = (s: Service): Env => Object.fromEntries(Object.entries(s.environment).map(([k, v]) => [k, expand(v)]));
  const roleOf = (s: Service): Role => envOf(s).UNDERSTUDY_ROLE as Role;

  it('the Dockerfile is multi-stage: npm ci and the build in the first stage, a runtime stage with production dependencies and dist/ only, as a non-root user', () => {
    expect(dockerfile.length).to.be.at.least(2);
    const build = dockerfile[0].body.filter((i) => i.op === 'RUN').map((i) => i.args).join('\n');
    expect(build).to.match(/\bnpm ci\b/);
    expect(build).to.match(/\bnpm run build\b/);
    expect(build, 'dev dependencies dropped before the copy').to.match(/\bnpm prune --omit=dev\b/);
    const copies = runtime.body.filter((i) => i.op === 'COPY').map((i) => i.args);
    expect(copies.every((c) => c.startsWith(`--from=${dockerfile[0].name} `)), 'the runtime copies only from the build stage').to.equal(true);
    const copied = copies.map((c) => c.split(/\s+/)[1]);
    expect(copied.sort()).to.deep.equal(['/app/bin', '/app/dist', '/app/node_modules', '/app/package.json']);
    expect(runtime.body.some((i) => i.op === 'RUN' && /\bnpm (ci|install)\b/.test(i.args)), 'no install in the runtime stage').to.equal(false);
    const user = runtime.body.filter((i) => i.op === 'USER').map((i) => i.args);
    expect(user).to.have.length(1);
    expect(user[0]).to.not.match(/^(root|0)(:|$)/);
  });

  it('the image runs bin/understudy.js with the role from UNDERSTUDY_ROLE, as the Procfile does, and both roles are CLI commands', async () => {
    const cmd = runtime.body.filter((i) => i.op === 'CMD').map((i) => JSON.parse(i.args) as string[]);
    expect(cmd).to.have.length(1);
    expect(cmd[0].slice(0, 2)).to.deep.equal(['sh', '-c']);
    expect(cmd[0][2]).to.equal('exec node bin/understudy.js "${UNDERSTUDY_ROLE:-view}"');
    expect(read('Procfile')).to.contain('node bin/understudy.js ${UNDERSTUDY_ROLE:-view}');
    expect(fs.existsSync(path.join(ROOT, 'bin', 'understudy.js'))).to.equal(true);
    for (const role of ['view', 'replica']) expect(await cli([role, '--help']), `understudy ${role}`).to.equal(0);
    expect(await cli(['no-such-role', '--help']), 'a role the CLI does not know fails').to.equal(2);
  });

  it('the image exposes the default ports of both roles and checks /healthz on PORT (SPEC §5)', () => {
    const exposed = runtime.body.filter((i) => i.op === 'EXPOSE').flatMap((i) => i.args.split(/\s+/)).map(Number);
    expect(exposed.sort()).to.deep.equal([DEFAULTS.viewPort, DEFAULTS.replicaPort]);
    const health = runtime.body.find((i) => i.op === 'HEALTHCHECK')?.args ?? '';
    expect(health).to.contain('/healthz').and.to.contain('process.env.PORT').and.to.contain(String(DEFAULTS.viewPort)).and.to.contain(String(DEFAULTS.replicaPort));
    const env = runtime.body.filter((i) => i.op === 'ENV').map((i) => i.args).join(' ');
    expect(env).to.match(/\bHOST=0\.0\.0\.0\b/);
  });

  it('docker-compose.yml runs one view service and three replicas, each variable one the CLI reads for that role (SPEC §4)', () => {
    const services = Object.entries(compose.services);
    expect(services.filter(([, s]) => roleOf(s) === 'view')).to.have.length(1);
    expect(services.filter(([, s]) => roleOf(s) === 'replica')).to.have.length(3);
    for (const [name, s] of services) {
      const env = envOf(s);
      expect(Object.keys(ROLES), `${name}: UNDERSTUDY_ROLE`).to.include(env.UNDERSTUDY_ROLE);
      expect(s.image, `${name}: one image for every service`).to.equal(compose.services.view.image);
      for (const key of Object.keys(env)) {
        if (key === 'UNDERSTUDY_ROLE') continue; // read by the image's command, not the CLI
        expect(reads(roleOf(s), env, key), `${name}: ${key} is read by \`understudy ${roleOf(s)}\``).to.equal(true);
      }
    }
  });

  it('compose ports, URLs and volumes line up: each service publishes its PORT, replicas dial the view service and advertise their own address', () => {
    const [viewName, view] = Object.entries(compose.services).find(([, s]) => roleOf(s) === 'view')!;
    const vo = normalizeViewOptions({}, envOf(view));
    expect(view.ports).to.deep.equal([`${vo.port}:${vo.port}`]);
    const urls = new Set<string>();
    for (const [name, s] of Object.entries(compose.services)) {
      if (roleOf(s) !== 'replica') continue;
      const o = normalizeReplicaOptions({}, envOf(s));
      expect(s.ports, name).to.deep.equal([`${o.port}:${o.port}`]);
      expect(o.viewUrl, name).to.equal(`ws://${viewName}:${vo.port}`);
      expect(o.url, `${name} advertises its own service name and port`).to.equal(`ws://${name}:${o.port}`);
      expect(o.clusterToken, `${name}: the view service's cluster token`).to.equal(vo.clusterToken);
      expect(s.depends_on, name).to.have.property(viewName);
      urls.add(o.url!);
    }
    expect(urls.size).to.equal(3);
    // The view service's data dir is a volume, and the image creates it for its user.
    expect(vo.dataDir).to.be.a('string');
    expect(view.volumes?.map((v) => v.split(':')[1])).to.include(vo.dataDir);
    expect(runtime.body.some((i) => i.op === 'RUN' && i.args.includes(`mkdir -p ${vo.dataDir}`) && i.args.includes(`chown node:node ${vo.dataDir}`))).to.equal(true);
  });

  it('.dockerignore keeps the build context small but keeps everything `npm run build` reads', () => {
    const ignored = read('.dockerignore').split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    for (const p of ['node_modules', 'dist', 'test', '.git']) expect(ignored, p).to.include(p);
    const needed = ['package.json', 'package-lock.json', 'tsconfig.json', 'bin', 'client', 'common', 'server', 'scripts'];
    for (const p of needed) {
      expect(fs.existsSync(path.join(ROOT, p)), p).to.equal(true);
      expect(ignored.some((i) => p === i || p.startsWith(`${i}/`)), `${p} must reach the build stage`).to.equal(false);
    }
  });
});

describe('the Render and Fly.io examples in docs/DEPLOYMENT.md agree with the command line (issue #15)', () => {
  const doc = read('docs/DEPLOYMENT.md');
  const block = (lang: string): string => {
    const m = new RegExp('### 2\\.2[\\s\\S]*?```' + lang + '\\n([\\s\\S]*?)```').exec(doc);
    if (!m) throw new Error(`no ${lang} block in docs/DEPLOYMENT.md §2.2`);
    return m[1];
  };

  it('render.yaml: each service runs the Dockerfile with a role the CLI knows, and every variable is read by that role', async () => {
    const render = parse(block('yaml')) as {
      envVarGroups: { name: string; envVars: { key: string; value?: string; generateValue?: boolean }[] }[];
      services: { name: string; runtime: string; dockerfilePath: string; healthCheckPath: string; envVars: { key?: string; value?: string; fromGroup?: string }[] }[];
    };
    const groups = new Map(render.envVarGroups.map((g) => [g.name, g.envVars]));
    expect(render.services.length).to.be.at.least(2);
    for (const s of render.services) {
      expect(s.runtime).to.equal('docker');
      expect(fs.existsSync(path.join(ROOT, s.dockerfilePath)), s.dockerfilePath).to.equal(true);
      expect(s.healthCheckPath).to.equal('/healthz');
      const vars: { key?: string; value?: string }[] = s.envVars.flatMap((v): { key?: string; value?: string }[] => (v.fromGroup ? groups.get(v.fromGroup)! : [v]));
      const env: Env = Object.fromEntries(vars.map((v) => [v.key!, v.value ?? 'generated-secret']));
      const role = env.UNDERSTUDY_ROLE as Role;
      expect(await cli([role, '--help']), `${s.name}: understudy ${role}`).to.equal(0);
      for (const key of Object.keys(env)) if (key !== 'UNDERSTUDY_ROLE') expect(reads(role, env, key), `${s.name}: ${key}`).to.equal(true);
    }
  });

  it('fly.toml: the [env] variables are read by the replica role it runs, on the port the http_service forwards to', async () => {
    const toml = block('toml');
    const envSection = /\[env\]\n([\s\S]*?)\n\n/.exec(toml)![1];
    const env: Env = Object.fromEntries([...envSection.matchAll(/^\s*([A-Z_]+)\s*=\s*"([^"]*)"/gm)].map((m) => [m[1], m[2]]));
    expect(env.UNDERSTUDY_ROLE).to.equal('replica');
    expect(await cli(['replica', '--help'])).to.equal(0);
    for (const key of Object.keys(env)) if (key !== 'UNDERSTUDY_ROLE') expect(reads('replica', env, key), key).to.equal(true);
    expect(Number(/internal_port\s*=\s*(\d+)/.exec(toml)![1])).to.equal(normalizeReplicaOptions({}, env).port);
    expect(toml).to.match(/path = "\/healthz"/);
  });
});
