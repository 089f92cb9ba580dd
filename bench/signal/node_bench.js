'use strict';
// The same three benchmark modes, run by npm "libsignal" in-process.
// Usage: node node_bench.js STEADY PINGPONG NEWSESSIONS  -> one JSON line: per mode and
// persistence, [operations per second, CPU microseconds of this process per operation].
// "Persistent" means what a Node client without a database does: after every step each record
// the step changed (a session, the prekey set, the trusted identities) is serialised and written
// to its own file, the way our side writes one row per changed record. No fsync: our SQLite runs
// WAL with synchronous=NORMAL, which does not fsync per commit either.
const fs = require('fs');
const os = require('os');
const path = require('path');
const libsignal = require(path.join(__dirname, '../../tests/signal/node/node_modules/libsignal'));

const PLAINTEXT = Buffer.alloc(100, 'x');

function makeParty(name, preKeyCount, stateDir) {
    const identity = libsignal.keyhelper.generateIdentityKeyPair();
    const spk = libsignal.keyhelper.generateSignedPreKey(identity, 1);
    const preKeys = {};
    for (let i = 1; i <= preKeyCount; i++) preKeys[i] = libsignal.keyhelper.generatePreKey(i).keyPair;
    const p = {
        name, identity, registrationId: libsignal.keyhelper.generateRegistrationId(), spk, preKeys,
        sessions: {}, identities: {},
    };
    const dirty = new Set();
    p.persist = () => {
        if (!stateDir) { dirty.clear(); return; }
        for (const what of dirty) {
            let data;
            if (what === 'preKeys') {
                const keys = {};
                for (const [k, v] of Object.entries(p.preKeys)) {
                    keys[k] = { pub: v.pubKey.toString('base64'), priv: v.privKey.toString('base64') };
                }
                data = keys;
            } else if (what === 'identities') {
                data = p.identities;
            } else {
                data = p.sessions[what].serialize();
            }
            fs.writeFileSync(path.join(stateDir, `${name}-${what}.json`), JSON.stringify(data));
        }
        dirty.clear();
    };
    p.storage = {
        async isTrustedIdentity(addr, key) {
            const id = String(addr).split('.')[0];
            const known = p.identities[id];
            if (!known) {
                p.identities[id] = key.toString('base64'); dirty.add('identities'); return true;
            }
            return known === key.toString('base64');
        },
        async loadSession(addr) { return p.sessions[addr]; },
        async storeSession(addr, record) { p.sessions[addr] = record; dirty.add(addr); },
        async getOurIdentity() { return identity; },
        async getOurRegistrationId() { return p.registrationId; },
        async loadPreKey(id) { return p.preKeys[id]; },
        async removePreKey(id) { delete p.preKeys[id]; dirty.add('preKeys'); },
        async loadSignedPreKey(id) { return id === 1 ? spk.keyPair : undefined; },
    };
    return p;
}

function device(p, preKeyId) {
    const d = {
        registrationId: p.registrationId, identityKey: p.identity.pubKey,
        signedPreKey: { keyId: 1, publicKey: p.spk.keyPair.pubKey, signature: p.spk.signature },
    };
    if (preKeyId) d.preKey = { keyId: preKeyId, publicKey: p.preKeys[preKeyId].pubKey };
    return d;
}

const addr = (name) => new libsignal.ProtocolAddress(name, 1);

async function send(src, dst, srcName, dstName) {
    const out = await new libsignal.SessionCipher(src.storage, addr(dstName)).encrypt(PLAINTEXT);
    src.persist();
    const cipher = new libsignal.SessionCipher(dst.storage, addr(srcName));
    const plaintext = out.type === 3 ? await cipher.decryptPreKeyWhisperMessage(out.body)
        : await cipher.decryptWhisperMessage(out.body);
    dst.persist();
    if (!plaintext.equals(PLAINTEXT)) throw new Error('mismatch');
}

const tempDirs = [];

// Wall clock and this process's CPU time (user + system, every thread) from here on.
function stopwatch() {
    const wall = process.hrtime.bigint();
    const cpu = process.cpuUsage();
    return (count) => {
        const used = process.cpuUsage(cpu);
        return [count / (Number(process.hrtime.bigint() - wall) / 1e9),
            (used.user + used.system) / count];
    };
}

function files(persistent) {
    if (!persistent) return [null, null];
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signal-bench-node-'));
    tempDirs.push(dir);
    return [dir, dir];
}

async function pair(persistent, bobPreKeys) {
    const [fa, fb] = files(persistent);
    return [makeParty('alice', 1, fa), makeParty('bob', bobPreKeys, fb)];
}

async function steady(persistent, count) {
    const [alice, bob] = await pair(persistent, 5);
    await new libsignal.SessionBuilder(alice.storage, addr('bob')).initOutgoing(device(bob, 1));
    await send(alice, bob, 'alice', 'bob');
    await send(bob, alice, 'bob', 'alice');
    const done = stopwatch();
    for (let i = 0; i < count; i++) await send(alice, bob, 'alice', 'bob');
    return done(count);
}

async function pingPong(persistent, count) {
    const [alice, bob] = await pair(persistent, 5);
    await new libsignal.SessionBuilder(alice.storage, addr('bob')).initOutgoing(device(bob, 1));
    await send(alice, bob, 'alice', 'bob');
    const done = stopwatch();
    for (let i = 0; i < count; i++) {
        if (i % 2) await send(alice, bob, 'alice', 'bob');
        else await send(bob, alice, 'bob', 'alice');
    }
    return done(count);
}

async function newSessions(persistent, count) {
    const [alice, bob] = await pair(persistent, count);
    const devices = [];
    for (let i = 1; i <= count; i++) devices.push(device(bob, i));
    const done = stopwatch();
    for (let i = 0; i < count; i++) {
        await new libsignal.SessionBuilder(alice.storage, addr(`bob${i}`)).initOutgoing(devices[i]);
        alice.persist();
        await send(alice, bob, 'alice' + i, 'bob' + i);
    }
    return done(count);
}

(async () => {
    const [steadyN, pingN, newN] = process.argv.slice(2).map(Number);
    const out = {};
    for (const persistent of [false, true]) {
        out[`steady/${persistent}`] = await steady(persistent, steadyN);
        out[`ping-pong/${persistent}`] = await pingPong(persistent, pingN);
        out[`new-sessions/${persistent}`] = await newSessions(persistent, newN);
    }
    for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
    process.stdout.write(JSON.stringify(out) + '\n');
})();
