// Filesystem images for the storage plugin: Dobby's check (owner xattr, e2fsck/xfs_repair) and
// creation (temp file, size, mke2fs/mkfs.xfs, owner xattr, rename), with the tools as options.

import { crypto } from '../../builtins.ts';
import { open, rename, rm, stat } from 'node:fs/promises';
import { DobbyError } from '../../errors.ts';
import { run, type RunResult } from '../process.ts';
import type { ImageCheck, ManagedFsType } from './types.ts';

/** The tools, at Dobby's paths by default. */
export interface ImageToolPaths {
  readonly mke2fs: string;
  readonly e2fsck: string;
  readonly mkfsXfs: string;
  readonly xfsRepair: string;
  readonly getfattr: string;
  readonly setfattr: string;
}

export const DEFAULT_IMAGE_TOOLS: ImageToolPaths = {
  mke2fs: '/sbin/mke2fs',
  e2fsck: '/sbin/e2fsck',
  mkfsXfs: '/sbin/mkfs.xfs',
  xfsRepair: '/sbin/xfs_repair',
  getfattr: 'getfattr',
  setfattr: 'setfattr',
};

/** The xattr Dobby tags its images with: the owner's uid, in decimal. */
export const OWNER_XATTR = 'user.storage.plugin';

const TOOL_TIMEOUT_MS = 60_000;

type Tag = { readonly kind: 'value'; readonly value: string } | { readonly kind: 'missing' } | { readonly kind: 'unsupported'; readonly why: string };

async function tool(file: string, args: readonly string[]): Promise<RunResult | { readonly missing: string }> {
  try {
    return await run(file, args, { timeoutMs: TOOL_TIMEOUT_MS });
  } catch (err) {
    return { missing: `${file} cannot be run (${(err as NodeJS.ErrnoException).code ?? String(err)})` };
  }
}

function lastLine(text: string): string {
  return text.trim().split('\n').pop()?.trim() ?? '';
}

export class ImageTools {
  readonly #paths: ImageToolPaths;

  constructor(paths: Partial<ImageToolPaths> = {}) {
    this.#paths = { ...DEFAULT_IMAGE_TOOLS, ...paths };
  }

  async readOwnerTag(image: string): Promise<Tag> {
    const r = await tool(this.#paths.getfattr, ['--only-values', '--absolute-names', '-n', OWNER_XATTR, image]);
    if ('missing' in r) return { kind: 'unsupported', why: r.missing };
    if (r.code === 0) return { kind: 'value', value: r.stdout.trim() };
    if (/No such attribute/i.test(r.stderr)) return { kind: 'missing' };
    return { kind: 'unsupported', why: lastLine(r.stderr) };
  }

  /** Returns a note when the host cannot keep the tag (no xattrs, no setfattr): Dobby carries on then. */
  async writeOwnerTag(image: string, uid: number): Promise<string | null> {
    const r = await tool(this.#paths.setfattr, ['-n', OWNER_XATTR, '-v', String(uid), image]);
    if ('missing' in r) return `the image's owner tag was not set: ${r.missing}`;
    return r.code === 0 ? null : `the image's owner tag was not set: ${lastLine(r.stderr)}`;
  }

  async check(image: string, ownerUid: number, fstype: ManagedFsType): Promise<ImageCheck> {
    const info = await stat(image).catch(() => null);
    if (info === null) return { ok: false, reason: `${image} does not exist` };
    if (!info.isFile()) return { ok: false, reason: `${image} is not a regular file` };
    const notes: string[] = [];
    const tag = await this.readOwnerTag(image);
    if (tag.kind === 'missing') return { ok: false, reason: `${image} has no ${OWNER_XATTR} owner tag` };
    if (tag.kind === 'unsupported') notes.push(`the owner tag of ${image} cannot be read (${tag.why}); not checked`);
    else if (tag.value === '' || Number(tag.value) !== ownerUid) {
      return { ok: false, reason: `${image} belongs to uid ${JSON.stringify(tag.value)}, not ${ownerUid}` };
    }
    const fsck = fstype === 'xfs'
      ? await tool(this.#paths.xfsRepair, ['-f', image])
      : await tool(this.#paths.e2fsck, ['-f', '-p', image]);
    if ('missing' in fsck) return { ok: false, reason: fsck.missing };
    const code = fsck.code ?? 255;
    // e2fsck: 1 and 2 are errors it corrected; 4 and up, left uncorrected or could not run.
    if (fstype === 'xfs' ? code !== 0 : (code & 0xfc) !== 0) {
      return { ok: false, reason: `the filesystem check of ${image} failed (exit ${code}: ${lastLine(fsck.stderr || fsck.stdout)})` };
    }
    return { ok: true, repaired: fstype !== 'xfs' && (code & 0x03) !== 0, notes };
  }

  async create(image: string, ownerUid: number, sizeBytes: number, fstype: ManagedFsType): Promise<string[]> {
    const temp = `${image}.${crypto().randomBytes(4).toString('hex')}`;
    const notes: string[] = [];
    try {
      const handle = await open(temp, 'wx', 0o644);
      try {
        await handle.truncate(sizeBytes);
      } finally {
        await handle.close();
      }
      const mkfs = fstype === 'xfs'
        ? await tool(this.#paths.mkfsXfs, ['-f', '-q', temp])
        : await tool(this.#paths.mke2fs, ['-q', '-t', fstype, '-F', temp]);
      if ('missing' in mkfs) throw new DobbyError('HOST_UNSUITABLE', `cannot make a ${fstype} image: ${mkfs.missing}`);
      if (mkfs.code !== 0) {
        throw new DobbyError('INVALID_ARGUMENT', `mkfs of ${image} (${fstype}, ${sizeBytes} bytes) failed: ${lastLine(mkfs.stderr || mkfs.stdout)}`, { exitStatus: mkfs.code, stderr: mkfs.stderr });
      }
      const note = await this.writeOwnerTag(temp, ownerUid);
      if (note !== null) notes.push(note);
      await rename(temp, image);
      return notes;
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
  }
}
