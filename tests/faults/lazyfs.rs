//! A filesystem that loses what was not synced: the disk of the power-loss tests.
//!
//! Mounted with FUSE in the test process, it keeps everything in memory. Every file has a
//! *current* content (what reads see) and a *durable* one; every directory has a current and a
//! durable list of entries (name → inode). Writes, truncations, creations, unlinks, renames and
//! mkdirs change only the current state. `fsync`/`fdatasync` of a file copies its current content
//! to its durable content; `fsync` of a directory makes its current entries durable. A power cut
//! ([`LazyFs::cut`]) unmounts, replaces every current state by its durable state (a file created
//! in a directory that was never synced since vanishes, whatever was synced into it) and mounts
//! again. Jepsen's LazyFS does the same for data; this one also loses directory entries, as
//! POSIX allows.
//!
//! Limits (docs/reliability.md, "How power loss is simulated"): a cut never tears a sector or a
//! write, never reorders writes within a file (a cut keeps exactly the state of the last sync),
//! and metadata other than sizes and names (modes, owners, times) is never rolled back.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use fuser::{
    BackgroundSession, Config, Errno, FileAttr, FileHandle, FileType, FopenFlags, Generation,
    INodeNo, LockOwner, MountOption, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request,
    SessionACL, TimeOrNow, WriteFlags,
};

/// Granularity of the copy made by a sync (a sync copies only the pages written since the last
/// one, so that syncing a long log costs what was appended, not the log's length).
const PAGE: u64 = 4096;
/// Largest file the filesystem accepts; far above anything the tests write.
const MAX_FILE: u64 = 1 << 40;
/// How long the kernel may cache names and attributes. Every change goes through this process,
/// so the cache cannot go stale within one mount, and a cut starts a new mount.
const TTL: Duration = Duration::from_secs(1);
const ROOT: u64 = 1;

/// Whether the power-loss filesystem can be mounted here: root and `/dev/fuse`. (As root,
/// fuser mounts with mount(2) and falls back to `fusermount3`, from Debian's `fuse3`.)
/// Prints the `SKIP:` line otherwise.
pub fn available(test: &str) -> bool {
    if crate::support::skip_unless(crate::support::is_root(), test, "needs root to mount FUSE") {
        return false;
    }
    !crate::support::skip_unless(
        Path::new("/dev/fuse").exists(),
        test,
        "/dev/fuse is missing",
    )
}

/// The bytes of a file, in pages; a missing page is a hole (reads as zeros).
#[derive(Clone, Default)]
struct Data {
    size: u64,
    pages: BTreeMap<u64, Box<[u8]>>,
}

impl Data {
    fn read(&self, offset: u64, len: u64) -> Vec<u8> {
        let end = offset.saturating_add(len).min(self.size);
        if offset >= end {
            return Vec::new();
        }
        let mut out = vec![0u8; (end - offset) as usize];
        let mut pos = offset;
        while pos < end {
            let (index, within) = (pos / PAGE, pos % PAGE);
            let n = (PAGE - within).min(end - pos);
            if let Some(page) = self.pages.get(&index) {
                let at = (pos - offset) as usize;
                out[at..at + n as usize]
                    .copy_from_slice(&page[within as usize..(within + n) as usize]);
            }
            pos += n;
        }
        out
    }

    /// Writes `bytes` at `offset`, noting every page it changes in `dirty`.
    fn write(&mut self, offset: u64, bytes: &[u8], dirty: &mut BTreeSet<u64>) {
        let mut done = 0usize;
        while done < bytes.len() {
            let pos = offset + done as u64;
            let (index, within) = (pos / PAGE, pos % PAGE);
            let n = ((PAGE - within) as usize).min(bytes.len() - done);
            let page = self
                .pages
                .entry(index)
                .or_insert_with(|| vec![0u8; PAGE as usize].into_boxed_slice());
            page[within as usize..within as usize + n].copy_from_slice(&bytes[done..done + n]);
            dirty.insert(index);
            done += n;
        }
        self.size = self.size.max(offset + bytes.len() as u64);
    }

    /// Sets the size; bytes past a shrink are dropped, so that growing again reads zeros.
    fn truncate(&mut self, size: u64, dirty: &mut BTreeSet<u64>) {
        if size < self.size {
            let first_gone = size.div_ceil(PAGE);
            let gone: Vec<u64> = self.pages.range(first_gone..).map(|(i, _)| *i).collect();
            for index in gone {
                self.pages.remove(&index);
                dirty.insert(index);
            }
            let within = (size % PAGE) as usize;
            if within != 0 {
                if let Some(page) = self.pages.get_mut(&(size / PAGE)) {
                    page[within..].fill(0);
                    dirty.insert(size / PAGE);
                }
            }
        }
        self.size = size;
    }
}

enum Body {
    File {
        current: Data,
        durable: Data,
        /// Pages changed since the last sync.
        dirty: BTreeSet<u64>,
    },
    Dir {
        current: BTreeMap<OsString, u64>,
        durable: BTreeMap<OsString, u64>,
    },
}

struct Node {
    body: Body,
    /// Current number of names (files) — only for `stat`.
    links: u32,
    perm: u16,
    uid: u32,
    gid: u32,
    atime: SystemTime,
    mtime: SystemTime,
    ctime: SystemTime,
}

impl Node {
    fn new(body: Body, perm: u16, uid: u32, gid: u32) -> Node {
        let now = SystemTime::now();
        Node {
            body,
            links: 1,
            perm,
            uid,
            gid,
            atime: now,
            mtime: now,
            ctime: now,
        }
    }

    fn attr(&self, ino: u64) -> FileAttr {
        let (kind, size, nlink) = match &self.body {
            Body::File { current, .. } => (FileType::RegularFile, current.size, self.links),
            Body::Dir { current, .. } => (FileType::Directory, current.len() as u64, 2),
        };
        FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: size.div_ceil(512),
            atime: self.atime,
            mtime: self.mtime,
            ctime: self.ctime,
            crtime: self.ctime,
            kind,
            perm: self.perm,
            nlink,
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: PAGE as u32,
            flags: 0,
        }
    }
}

/// Counters, for the tests' reports.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    pub writes: u64,
    pub bytes_written: u64,
    pub file_syncs: u64,
    pub dir_syncs: u64,
    pub cuts: u64,
}

struct State {
    nodes: HashMap<u64, Node>,
    next_ino: u64,
    stats: Stats,
    /// False between [`LazyFs::power_off`] and the cut: the disk is dead, every change fails.
    powered: bool,
    /// How long a sync takes, as on a real disk (see [`LazyFs::set_sync_latency`]).
    sync_latency: Duration,
}

impl State {
    fn new() -> State {
        let root = Node::new(
            Body::Dir {
                current: BTreeMap::new(),
                durable: BTreeMap::new(),
            },
            0o755,
            0,
            0,
        );
        State {
            nodes: HashMap::from([(ROOT, root)]),
            next_ino: ROOT + 1,
            stats: Stats::default(),
            powered: true,
            sync_latency: Duration::ZERO,
        }
    }

    fn node(&self, ino: u64) -> Result<&Node, Errno> {
        self.nodes.get(&ino).ok_or(Errno::ENOENT)
    }

    fn node_mut(&mut self, ino: u64) -> Result<&mut Node, Errno> {
        self.nodes.get_mut(&ino).ok_or(Errno::ENOENT)
    }

    fn entries(&self, dir: u64) -> Result<&BTreeMap<OsString, u64>, Errno> {
        match &self.node(dir)?.body {
            Body::Dir { current, .. } => Ok(current),
            Body::File { .. } => Err(Errno::ENOTDIR),
        }
    }

    fn entries_mut(&mut self, dir: u64) -> Result<&mut BTreeMap<OsString, u64>, Errno> {
        match &mut self.node_mut(dir)?.body {
            Body::Dir { current, .. } => Ok(current),
            Body::File { .. } => Err(Errno::ENOTDIR),
        }
    }

    fn lookup(&self, dir: u64, name: &OsStr) -> Result<u64, Errno> {
        self.entries(dir)?.get(name).copied().ok_or(Errno::ENOENT)
    }

    /// Adds a new node named `name` in `dir` (current state only).
    fn add(&mut self, dir: u64, name: &OsStr, node: Node) -> Result<u64, Errno> {
        if self.entries(dir)?.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        self.nodes.insert(ino, node);
        self.entries_mut(dir)?.insert(name.to_owned(), ino);
        self.touch(dir);
        Ok(ino)
    }

    fn touch(&mut self, ino: u64) {
        if let Some(node) = self.nodes.get_mut(&ino) {
            let now = SystemTime::now();
            node.mtime = now;
            node.ctime = now;
        }
    }

    fn is_empty_dir(&self, ino: u64) -> Result<bool, Errno> {
        Ok(self.entries(ino)?.is_empty())
    }

    /// Removes the current name `name` of `dir`; the node stays (a durable entry or an open file
    /// may still refer to it) until the next cut forgets what no durable entry reaches.
    fn remove(&mut self, dir: u64, name: &OsStr, want_dir: bool) -> Result<(), Errno> {
        let ino = self.lookup(dir, name)?;
        let is_dir = matches!(self.node(ino)?.body, Body::Dir { .. });
        match (want_dir, is_dir) {
            (true, false) => return Err(Errno::ENOTDIR),
            (false, true) => return Err(Errno::EISDIR),
            (true, true) if !self.is_empty_dir(ino)? => return Err(Errno::ENOTEMPTY),
            _ => {}
        }
        self.entries_mut(dir)?.remove(name);
        let node = self.node_mut(ino)?;
        node.links = node.links.saturating_sub(1);
        node.ctime = SystemTime::now();
        self.touch(dir);
        Ok(())
    }

    fn rename(
        &mut self,
        from_dir: u64,
        from: &OsStr,
        to_dir: u64,
        to: &OsStr,
        flags: RenameFlags,
    ) -> Result<(), Errno> {
        if flags.contains(RenameFlags::RENAME_EXCHANGE)
            || flags.contains(RenameFlags::RENAME_WHITEOUT)
        {
            return Err(Errno::EINVAL);
        }
        let ino = self.lookup(from_dir, from)?;
        if let Ok(existing) = self.lookup(to_dir, to) {
            if existing == ino {
                return Ok(());
            }
            if flags.contains(RenameFlags::RENAME_NOREPLACE) {
                return Err(Errno::EEXIST);
            }
            let moving_dir = matches!(self.node(ino)?.body, Body::Dir { .. });
            self.remove(to_dir, to, moving_dir)?;
        }
        self.entries_mut(from_dir)?.remove(from);
        self.entries_mut(to_dir)?.insert(to.to_owned(), ino);
        self.touch(from_dir);
        self.touch(to_dir);
        Ok(())
    }

    fn sync_file(&mut self, ino: u64) -> Result<(), Errno> {
        match &mut self.node_mut(ino)?.body {
            Body::File {
                current,
                durable,
                dirty,
            } => {
                for index in std::mem::take(dirty) {
                    match current.pages.get(&index) {
                        Some(page) => durable.pages.insert(index, page.clone()),
                        None => durable.pages.remove(&index),
                    };
                }
                durable.size = current.size;
            }
            // fsync(2) on a directory's descriptor reaches the filesystem as fsyncdir.
            Body::Dir { current, durable } => *durable = current.clone(),
        }
        self.stats.file_syncs += 1;
        Ok(())
    }

    fn sync_dir(&mut self, ino: u64) -> Result<(), Errno> {
        match &mut self.node_mut(ino)?.body {
            Body::Dir { current, durable } => *durable = current.clone(),
            Body::File { .. } => return Err(Errno::ENOTDIR),
        }
        self.stats.dir_syncs += 1;
        Ok(())
    }

    /// The power cut: every node reachable from the root through durable entries comes back in
    /// its durable state; every other node is forgotten.
    fn cut(&mut self) {
        let mut reachable = BTreeSet::from([ROOT]);
        let mut links: HashMap<u64, u32> = HashMap::new();
        let mut todo = vec![ROOT];
        while let Some(dir) = todo.pop() {
            let Some(Node {
                body: Body::Dir { durable, .. },
                ..
            }) = self.nodes.get(&dir)
            else {
                continue;
            };
            for &child in durable.values() {
                *links.entry(child).or_default() += 1;
                if reachable.insert(child) {
                    todo.push(child);
                }
            }
        }
        self.nodes.retain(|ino, _| reachable.contains(ino));
        for (ino, node) in &mut self.nodes {
            node.links = links.get(ino).copied().unwrap_or(1);
            match &mut node.body {
                Body::File {
                    current,
                    durable,
                    dirty,
                } => {
                    *current = durable.clone();
                    dirty.clear();
                }
                Body::Dir { current, durable } => *current = durable.clone(),
            }
        }
        self.stats.cuts += 1;
    }

    /// `path  current-size / durable-size` for every current file, for failure messages.
    fn listing(&self) -> String {
        let mut out = String::new();
        self.list_into(ROOT, PathBuf::from("/"), &mut out);
        out
    }

    fn list_into(&self, dir: u64, path: PathBuf, out: &mut String) {
        let Ok(entries) = self.entries(dir) else {
            return;
        };
        let durable_names = match self.nodes.get(&dir).map(|n| &n.body) {
            Some(Body::Dir { durable, .. }) => durable.clone(),
            _ => BTreeMap::new(),
        };
        for (name, &ino) in entries {
            let child = path.join(name);
            let named = if durable_names.get(name) == Some(&ino) {
                "name synced"
            } else {
                "name NOT synced"
            };
            match self.nodes.get(&ino).map(|n| &n.body) {
                Some(Body::File {
                    current, durable, ..
                }) => out.push_str(&format!(
                    "{} {} bytes, {} synced, {named}\n",
                    child.display(),
                    current.size,
                    durable.size
                )),
                Some(Body::Dir { .. }) => {
                    out.push_str(&format!("{}/ {named}\n", child.display()));
                    self.list_into(ino, child, out);
                }
                None => {}
            }
        }
    }
}

/// The FUSE side: every call takes the state's lock for the length of a memory operation.
struct Ops {
    state: Arc<Mutex<State>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic while holding the lock leaves a consistent map (no call is half-applied across a
    // panic point that matters for a test that is already failing).
    state.lock().unwrap_or_else(|e| e.into_inner())
}

fn time(t: TimeOrNow) -> SystemTime {
    match t {
        TimeOrNow::SpecificTime(t) => t,
        TimeOrNow::Now => SystemTime::now(),
    }
}

impl Ops {
    fn st(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Sleeps for the sync latency, without the lock: other calls go on meanwhile (the session
    /// has several threads), and a power cut during the sleep makes the sync fail.
    fn wait_for_the_disk(&self) {
        let latency = self.st().sync_latency;
        if !latency.is_zero() {
            std::thread::sleep(latency);
        }
    }

    /// The state, for a call that changes it: `EIO` once the power is off, as from a dead disk
    /// (a sync still being processed when the power fails must not make anything durable).
    fn st_mut(&self) -> Result<MutexGuard<'_, State>, Errno> {
        let st = self.st();
        if st.powered {
            Ok(st)
        } else {
            Err(Errno::EIO)
        }
    }

    fn make(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        body: Body,
    ) -> Result<(u64, FileAttr), Errno> {
        let mut st = self.st_mut()?;
        let perm = (mode & !umask & 0o7777) as u16;
        let ino = st.add(parent.0, name, Node::new(body, perm, req.uid(), req.gid()))?;
        let attr = st.node(ino)?.attr(ino);
        Ok((ino, attr))
    }
}

impl fuser::Filesystem for Ops {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let st = self.st();
        match st
            .lookup(parent.0, name)
            .and_then(|ino| st.node(ino).map(|n| n.attr(ino)))
        {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.st().node(ino.0) {
            Ok(node) => reply.attr(&TTL, &node.attr(ino.0)),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mut st = match self.st_mut() {
            Ok(st) => st,
            Err(e) => return reply.error(e),
        };
        let node = match st.node_mut(ino.0) {
            Ok(node) => node,
            Err(e) => return reply.error(e),
        };
        if let Some(size) = size {
            match &mut node.body {
                Body::File { current, dirty, .. } if size <= MAX_FILE => {
                    current.truncate(size, dirty);
                    node.mtime = SystemTime::now();
                }
                Body::File { .. } => return reply.error(Errno::EFBIG),
                Body::Dir { .. } => return reply.error(Errno::EISDIR),
            }
        }
        if let Some(mode) = mode {
            node.perm = (mode & 0o7777) as u16;
        }
        if let Some(uid) = uid {
            node.uid = uid;
        }
        if let Some(gid) = gid {
            node.gid = gid;
        }
        if let Some(t) = atime {
            node.atime = time(t);
        }
        if let Some(t) = mtime {
            node.mtime = time(t);
        }
        node.ctime = SystemTime::now();
        reply.attr(&TTL, &node.attr(ino.0));
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let body = Body::Dir {
            current: BTreeMap::new(),
            durable: BTreeMap::new(),
        };
        match self.make(req, parent, name, mode, umask, body) {
            Ok((_, attr)) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        let body = Body::File {
            current: Data::default(),
            durable: Data::default(),
            dirty: BTreeSet::new(),
        };
        match self.make(req, parent, name, mode, umask, body) {
            Ok((_, attr)) => reply.created(
                &TTL,
                &attr,
                Generation(0),
                FileHandle(0),
                FopenFlags::empty(),
            ),
            Err(e) => reply.error(e),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match self
            .st_mut()
            .and_then(|mut st| st.remove(parent.0, name, false))
        {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match self
            .st_mut()
            .and_then(|mut st| st.remove(parent.0, name, true))
        {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        match self
            .st_mut()
            .and_then(|mut st| st.rename(parent.0, name, newparent.0, newname, flags))
        {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.st().node(ino.0) {
            Ok(_) => reply.opened(FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match &self.st().node(ino.0).map(|n| &n.body) {
            Ok(Body::File { current, .. }) => reply.data(&current.read(offset, size.into())),
            Ok(Body::Dir { .. }) => reply.error(Errno::EISDIR),
            Err(e) => reply.error(*e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let mut st = match self.st_mut() {
            Ok(st) => st,
            Err(e) => return reply.error(e),
        };
        if offset
            .checked_add(data.len() as u64)
            .is_none_or(|end| end > MAX_FILE)
        {
            return reply.error(Errno::EFBIG);
        }
        let node = match st.node_mut(ino.0) {
            Ok(node) => node,
            Err(e) => return reply.error(e),
        };
        match &mut node.body {
            Body::File { current, dirty, .. } => current.write(offset, data, dirty),
            Body::Dir { .. } => return reply.error(Errno::EISDIR),
        }
        node.mtime = SystemTime::now();
        st.stats.writes += 1;
        st.stats.bytes_written += data.len() as u64;
        reply.written(data.len() as u32);
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // close(2) makes nothing durable.
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.wait_for_the_disk();
        match self.st_mut().and_then(|mut st| st.sync_file(ino.0)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.st().entries(ino.0) {
            Ok(_) => reply.opened(FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let st = self.st();
        let entries = match st.entries(ino.0) {
            Ok(entries) => entries,
            Err(e) => return reply.error(e),
        };
        let dots = [
            (ino.0, FileType::Directory, OsString::from(".")),
            (ino.0, FileType::Directory, OsString::from("..")),
        ];
        let named = entries.iter().map(|(name, &child)| {
            let kind = match st.nodes.get(&child).map(|n| &n.body) {
                Some(Body::Dir { .. }) => FileType::Directory,
                _ => FileType::RegularFile,
            };
            (child, kind, name.clone())
        });
        for (i, (child, kind, name)) in dots
            .into_iter()
            .chain(named)
            .enumerate()
            .skip(offset as usize)
        {
            if reply.add(INodeNo(child), i as u64 + 1, kind, &name) {
                break;
            }
        }
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.wait_for_the_disk();
        match self.st_mut().and_then(|mut st| st.sync_dir(ino.0)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        // 64 GiB, nearly all free: sled never sees a full disk here.
        let blocks = (64u64 << 30) / PAGE;
        reply.statfs(
            blocks,
            blocks - 1,
            blocks - 1,
            1 << 20,
            1 << 20,
            PAGE as u32,
            255,
            PAGE as u32,
        );
    }

    fn access(&self, _req: &Request, ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        // Mounted with `default_permissions`: the kernel checks modes itself.
        match self.st().node(ino.0) {
            Ok(_) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }
}

/// A mounted power-loss filesystem; unmounted (and its mount point removed) on drop.
pub struct LazyFs {
    state: Arc<Mutex<State>>,
    session: Option<BackgroundSession>,
    mountpoint: PathBuf,
}

impl LazyFs {
    /// Mounts an empty filesystem on a new directory under the temporary directory.
    pub fn mount() -> io::Result<LazyFs> {
        let mountpoint =
            std::env::temp_dir().join(format!("quicksilver-lazyfs-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&mountpoint)?;
        let state = Arc::new(Mutex::new(State::new()));
        let mut fs = LazyFs {
            state,
            session: None,
            mountpoint,
        };
        fs.session = Some(fs.spawn()?);
        Ok(fs)
    }

    fn spawn(&self) -> io::Result<BackgroundSession> {
        let mut config = Config::default();
        config.mount_options = vec![
            MountOption::FSName("quicksilver-lazyfs".into()),
            MountOption::DefaultPermissions,
            MountOption::RW,
        ];
        // The hub runs as the same user as the test, so the owner's access is enough.
        config.acl = SessionACL::Owner;
        // A sync sleeping for its latency must not stall every other call.
        config.n_threads = Some(4);
        let ops = Ops {
            state: Arc::clone(&self.state),
        };
        fuser::spawn_mount(ops, &self.mountpoint, &config)
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.mountpoint
    }

    /// The power fails: from now on every change (write, sync, create, rename…) fails with
    /// `EIO` and nothing more becomes durable, even a sync the kernel already handed over.
    /// Call it, kill the processes using the filesystem, then [`LazyFs::cut`].
    pub fn power_off(&self) {
        lock(&self.state).powered = false;
    }

    /// Power loss (after [`LazyFs::power_off`] if the processes were still running): unmounts (every process using the filesystem must be gone, or this fails
    /// with `EBUSY`), drops everything that was not synced, and mounts again.
    pub fn cut(&mut self) -> io::Result<()> {
        self.power_off();
        self.unmount()?;
        let mut st = lock(&self.state);
        st.cut();
        st.powered = true;
        drop(st);
        self.session = Some(self.spawn()?);
        Ok(())
    }

    fn unmount(&mut self) -> io::Result<()> {
        match self.session.take() {
            Some(session) => session.umount_and_join(),
            None => Ok(()),
        }
    }

    /// Makes every sync take `latency` (a real disk's flush takes milliseconds): a longer window
    /// between a write and the moment it is durable, for a cut to fall into.
    pub fn set_sync_latency(&self, latency: Duration) {
        lock(&self.state).sync_latency = latency;
    }

    pub fn stats(&self) -> Stats {
        lock(&self.state).stats
    }

    /// Every current file with its current and synced sizes and whether its name is synced.
    pub fn listing(&self) -> String {
        lock(&self.state).listing()
    }
}

impl Drop for LazyFs {
    fn drop(&mut self) {
        if let Err(e) = self.unmount() {
            eprintln!("unmounting {} failed: {e}", self.mountpoint.display());
        }
        let _ = std::fs::remove_dir(&self.mountpoint);
    }
}

/// Syncs a directory the way sled or the hub would: open it and fsync the descriptor.
pub fn sync_dir(path: &Path) -> io::Result<()> {
    std::fs::File::open(path)?.sync_all()
}

// The filesystem's own tests, through the real mount and std::fs.

fn mounted(test: &str) -> Option<LazyFs> {
    if !available(test) {
        return None;
    }
    Some(LazyFs::mount().expect("mount the lazy filesystem"))
}

#[test]
fn unsynced_write_is_gone_after_a_cut() {
    let Some(mut fs) = mounted("lazyfs::unsynced_write_is_gone_after_a_cut") else {
        return;
    };
    let path = fs.path().join("f");
    std::fs::write(&path, b"first").unwrap();
    std::fs::File::open(&path).unwrap().sync_all().unwrap();
    sync_dir(fs.path()).unwrap();
    // Appended, and rewritten in place, without a sync.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    std::io::Write::write_all(&mut f, b" second").unwrap();
    drop(f);
    assert_eq!(std::fs::read(&path).unwrap(), b"first second");
    fs.cut().unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"first");
}

#[test]
fn synced_write_survives_a_cut() {
    let Some(mut fs) = mounted("lazyfs::synced_write_survives_a_cut") else {
        return;
    };
    let path = fs.path().join("f");
    let f = std::fs::File::create(&path).unwrap();
    sync_dir(fs.path()).unwrap();
    // A sparse file: a hole, then 3 pages at an odd offset, synced with fdatasync.
    let big: Vec<u8> = (0..3 * PAGE as usize + 5)
        .map(|i| (i % 251) as u8)
        .collect();
    std::os::unix::fs::FileExt::write_all_at(&f, &big, 10_000).unwrap();
    f.sync_data().unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, b"late", 0).unwrap();
    drop(f);
    fs.cut().unwrap();
    let back = std::fs::read(&path).unwrap();
    assert_eq!(back.len(), 10_000 + big.len());
    assert!(
        back[..10_000].iter().all(|b| *b == 0),
        "the hole reads as zeros, the unsynced write is gone"
    );
    assert_eq!(&back[10_000..], &big[..]);
}

#[test]
fn a_truncation_is_undone_by_a_cut_unless_synced() {
    let Some(mut fs) = mounted("lazyfs::a_truncation_is_undone_by_a_cut_unless_synced") else {
        return;
    };
    let path = fs.path().join("f");
    std::fs::write(&path, vec![7u8; 9000]).unwrap();
    std::fs::File::open(&path).unwrap().sync_all().unwrap();
    sync_dir(fs.path()).unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(100).unwrap();
    drop(f);
    fs.cut().unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), vec![7u8; 9000]);
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(100).unwrap();
    f.set_len(200).unwrap();
    f.sync_all().unwrap();
    drop(f);
    fs.cut().unwrap();
    let back = std::fs::read(&path).unwrap();
    assert_eq!(back.len(), 200);
    assert_eq!(&back[..100], &[7u8; 100][..]);
    assert!(
        back[100..].iter().all(|b| *b == 0),
        "bytes past a shrink do not come back"
    );
}

#[test]
fn a_new_file_needs_its_directory_synced() {
    let Some(mut fs) = mounted("lazyfs::a_new_file_needs_its_directory_synced") else {
        return;
    };
    let dir = fs.path().join("d");
    std::fs::create_dir(&dir).unwrap();
    sync_dir(fs.path()).unwrap();
    // The file itself synced, its directory not: gone.
    let lost = dir.join("lost");
    let f = std::fs::File::create(&lost).unwrap();
    std::io::Write::write_all(&mut &f, b"synced data").unwrap();
    f.sync_all().unwrap();
    drop(f);
    fs.cut().unwrap();
    assert!(dir.is_dir(), "the directory's own entry was synced");
    assert!(!lost.exists(), "a name not synced vanishes");
    // Both synced: it survives with its synced content only.
    let kept = dir.join("kept");
    let f = std::fs::File::create(&kept).unwrap();
    std::io::Write::write_all(&mut &f, b"synced").unwrap();
    f.sync_data().unwrap();
    std::io::Write::write_all(&mut &f, b" and more").unwrap();
    drop(f);
    sync_dir(&dir).unwrap();
    fs.cut().unwrap();
    assert_eq!(std::fs::read(&kept).unwrap(), b"synced");
    // A directory that was never synced into its parent vanishes with everything in it.
    let sub = fs.path().join("new");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("x"), b"x").unwrap();
    std::fs::File::open(sub.join("x"))
        .unwrap()
        .sync_all()
        .unwrap();
    sync_dir(&sub).unwrap();
    fs.cut().unwrap();
    assert!(!sub.exists());
    let stats = fs.stats();
    assert_eq!(stats.cuts, 3);
    assert!(stats.file_syncs >= 3 && stats.dir_syncs >= 3, "{stats:?}");
}

#[test]
fn renames_and_unlinks_are_durable_only_once_the_directories_are_synced() {
    let Some(mut fs) =
        mounted("lazyfs::renames_and_unlinks_are_durable_only_once_the_directories_are_synced")
    else {
        return;
    };
    let root = fs.path().to_path_buf();
    // The write-then-rename pattern sled uses for snapshots.
    std::fs::write(root.join("snap"), b"old").unwrap();
    std::fs::File::open(root.join("snap"))
        .unwrap()
        .sync_all()
        .unwrap();
    sync_dir(&root).unwrap();
    std::fs::write(root.join("snap.tmp"), b"new").unwrap();
    std::fs::File::open(root.join("snap.tmp"))
        .unwrap()
        .sync_all()
        .unwrap();
    std::fs::rename(root.join("snap.tmp"), root.join("snap")).unwrap();
    assert_eq!(std::fs::read(root.join("snap")).unwrap(), b"new");
    fs.cut().unwrap();
    assert_eq!(
        std::fs::read(root.join("snap")).unwrap(),
        b"old",
        "rename not synced"
    );
    assert!(!root.join("snap.tmp").exists());

    std::fs::write(root.join("snap.tmp"), b"new").unwrap();
    std::fs::File::open(root.join("snap.tmp"))
        .unwrap()
        .sync_all()
        .unwrap();
    std::fs::rename(root.join("snap.tmp"), root.join("snap")).unwrap();
    sync_dir(&root).unwrap();
    fs.cut().unwrap();
    assert_eq!(std::fs::read(root.join("snap")).unwrap(), b"new");
    assert!(!root.join("snap.tmp").exists());

    // An unlink comes back after a cut, with the file's synced content, unless synced.
    std::fs::remove_file(root.join("snap")).unwrap();
    fs.cut().unwrap();
    assert_eq!(std::fs::read(root.join("snap")).unwrap(), b"new");
    std::fs::remove_file(root.join("snap")).unwrap();
    sync_dir(&root).unwrap();
    fs.cut().unwrap();
    assert!(!root.join("snap").exists());

    // Moving between directories; listing and removing directories work.
    std::fs::create_dir_all(root.join("a/b")).unwrap();
    std::fs::write(root.join("a/b/f"), b"f").unwrap();
    std::fs::rename(root.join("a/b/f"), root.join("a/g")).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(root.join("a"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["b", "g"]);
    assert_eq!(
        std::fs::remove_dir(root.join("a"))
            .unwrap_err()
            .raw_os_error(),
        Some(libc::ENOTEMPTY)
    );
    std::fs::remove_dir(root.join("a/b")).unwrap();
    std::fs::remove_file(root.join("a/g")).unwrap();
    std::fs::remove_dir(root.join("a")).unwrap();
    assert!(!root.join("a").exists());
}

#[test]
fn an_flock_is_kept_by_the_kernel() {
    let Some(fs) = mounted("lazyfs::an_flock_is_kept_by_the_kernel") else {
        return;
    };
    // sled locks its database file (fs2's flock); FUSE without lock support keeps locks local.
    let path = fs.path().join("db");
    let a = std::fs::File::create(&path).unwrap();
    let b = std::fs::File::open(&path).unwrap();
    use std::os::fd::AsRawFd;
    // SAFETY: flock on descriptors this test owns.
    let first = unsafe { libc::flock(a.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    let second = unsafe { libc::flock(b.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    assert_eq!(first, 0, "{}", io::Error::last_os_error());
    assert_eq!(second, -1, "a second exclusive lock must be refused");
}

#[test]
fn nothing_changes_once_the_power_is_off() {
    let Some(mut fs) = mounted("lazyfs::nothing_changes_once_the_power_is_off") else {
        return;
    };
    let path = fs.path().join("f");
    let f = std::fs::File::create(&path).unwrap();
    std::io::Write::write_all(&mut &f, b"kept").unwrap();
    f.sync_all().unwrap();
    sync_dir(fs.path()).unwrap();
    std::io::Write::write_all(&mut &f, b" lost").unwrap();
    fs.power_off();
    let eio = Some(libc::EIO);
    assert_eq!(f.sync_all().unwrap_err().raw_os_error(), eio);
    assert_eq!(
        std::io::Write::write_all(&mut &f, b"x")
            .unwrap_err()
            .raw_os_error(),
        eio
    );
    assert_eq!(
        std::fs::File::create(fs.path().join("g"))
            .unwrap_err()
            .raw_os_error(),
        eio
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"kept lost",
        "reads still work"
    );
    drop(f);
    fs.cut().unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"kept");
    std::fs::write(&path, b"powered again").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"powered again");
}
