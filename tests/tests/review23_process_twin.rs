//! Review 23: guv::green::process against std::process, as twins. Each
//! body runs once with `std::process` on an OS thread and once with
//! `guv::green::process` (greenlets), and both must observe the same exit
//! statuses, values, error kinds and errnos. (review6_fs_process.rs and
//! green_process.rs hold the earlier ones; these cover what they do not.)

/// A result as compared (`guv_tests::io_result`).
use guv_tests::io_result as err;

guv_tests::twins! {
    std: {
        use std::process::{Command, Stdio};
        use std::io::{IoSlice, IoSliceMut, Read, Write};
        use std::os::unix::process::ExitStatusExt;
        use super::err;
    }
    green: {
        use guv::green::process::{Command, Stdio};
        use std::io::{IoSlice, IoSliceMut, Read, Write};
        use std::os::unix::process::ExitStatusExt;
        use super::err;
    }
    dir: "review23",
    fn exit_statuses(dir) -> Vec<String> {
        let mut out = Vec::new();
        for script in ["exit 0", "exit 1", "exit 255", "exit 256", "exit 300", "kill -TERM $$", "kill -KILL $$", "kill -USR1 $$"] {
            let st = Command::new("sh").arg("-c").arg(script).status().unwrap();
            out.push(format!("{script}: {:?} {:?} {} {:?} {} {st} {st:?}", st.code(), st.signal(), st.success(), st.stopped_signal(), st.into_raw()));
        }
        out
    }

    fn kill_wait_and_try_wait(dir) -> Vec<String> {
        let mut out = Vec::new();
        let mut c = Command::new("sh").arg("-c").arg("echo $$; exec sleep 60").stdout(Stdio::piped()).spawn().unwrap();
        let mut line = String::new();
        let mut stdout = c.stdout.take().unwrap();
        let mut b = [0u8; 1];
        while b != *b"\n" {
            assert_eq!(stdout.read(&mut b).unwrap(), 1);
            line.push(b[0] as char);
        }
        out.push(format!("id matches: {}", line.trim() == c.id().to_string()));
        out.push(err(&c.try_wait()));
        out.push(err(&c.kill()));
        let st = c.wait().unwrap();
        out.push(format!("{:?} {:?}", st.code(), st.signal()));
        out.push(err(&c.wait().map(|s| s.signal())));
        out.push(err(&c.try_wait().map(|s| s.map(|s| s.signal()))));
        out.push(err(&c.kill()));
        // The pipe reads the rest: EOF.
        let mut rest = Vec::new();
        out.push(err(&stdout.read_to_end(&mut rest)));
        // try_wait reaps: a later wait returns the same status.
        let mut c = Command::new("sh").arg("-c").arg("exit 9").spawn().unwrap();
        let st = loop {
            if let Some(st) = c.try_wait().unwrap() {
                break st;
            }
            std::thread::yield_now();
        };
        out.push(format!("{:?}", st.code()));
        out.push(err(&c.wait().map(|s| s.code())));
        out.push(err(&c.kill()));
        out
    }

    fn stdin_pipes_and_eof(dir) -> Vec<String> {
        let mut out = Vec::new();
        // wait() closes a piped stdin first: `cat` sees EOF and exits.
        let mut c = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
        c.stdin.as_mut().unwrap().write_all(b"x").unwrap();
        out.push(err(&c.wait().map(|s| s.code())));
        out.push(format!("{}", c.stdin.is_none()));
        // Dropped stdin: EOF; the child counts what it got.
        let mut c = Command::new("wc").arg("-c").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        let mut stdin = c.stdin.take().unwrap();
        out.push(err(&stdin.write(b"hello")));
        out.push(err(&(&stdin).write(b" world")));
        out.push(err(&stdin.flush()));
        drop(stdin);
        let mut s = String::new();
        c.stdout.take().unwrap().read_to_string(&mut s).unwrap();
        out.push(s.trim().to_owned());
        out.push(err(&c.wait().map(|s| s.code())));
        // An empty read and write on pipes.
        let mut c = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        out.push(err(&c.stdin.as_mut().unwrap().write(&[])));
        out.push(err(&c.stdout.as_mut().unwrap().read(&mut [])));
        drop(c.stdin.take());
        out.push(err(&c.stdout.as_mut().unwrap().read(&mut [0u8; 4])));
        out.push(err(&c.wait().map(|s| s.code())));
        out
    }

    fn vectored_pipe_io(dir) -> Vec<String> {
        let mut out = Vec::new();
        let mut c = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        let mut stdin = c.stdin.take().unwrap();
        let n = stdin.write_vectored(&[IoSlice::new(b"ab"), IoSlice::new(b""), IoSlice::new(b"cdef")]);
        out.push(err(&n));
        let n = (&stdin).write_vectored(&[IoSlice::new(b"gh"), IoSlice::new(b"ij")]);
        out.push(err(&n));
        drop(stdin);
        out.push(err(&c.wait().map(|s| s.code())));
        // Everything is in the pipe now: one readv fills all buffers.
        let mut stdout = c.stdout.take().unwrap();
        let (mut a, mut b, mut d) = ([0u8; 3], [0u8; 0], [0u8; 4]);
        let n = stdout.read_vectored(&mut [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b), IoSliceMut::new(&mut d)]);
        out.push(format!("{} {:?} {:?}", err(&n), a, d));
        let mut rest = Vec::new();
        out.push(err(&stdout.read_to_end(&mut rest)));
        out.push(format!("{rest:?}"));
        let n = stdout.read_vectored(&mut [IoSliceMut::new(&mut a)]);
        out.push(err(&n));
        // The same on stderr.
        let mut c = Command::new("sh").arg("-c").arg("printf 0123456789 >&2").stderr(Stdio::piped()).spawn().unwrap();
        c.wait().unwrap();
        let mut stderr = c.stderr.take().unwrap();
        let (mut a, mut b) = ([0u8; 4], [0u8; 4]);
        let n = stderr.read_vectored(&mut [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)]);
        out.push(format!("{} {:?} {:?}", err(&n), a, b));
        out
    }

    fn output_shapes(dir) -> Vec<String> {
        let mut out = Vec::new();
        // Lots on stderr only, then lots on both at once.
        let o = Command::new("sh").arg("-c").arg("head -c 3000000 /dev/zero >&2; exit 5").output().unwrap();
        out.push(format!("{:?} {} {}", o.status.code(), o.stdout.len(), o.stderr.len()));
        let o = Command::new("sh")
            .arg("-c")
            .arg("head -c 2000000 /dev/zero & head -c 2000000 /dev/zero >&2; wait")
            .output()
            .unwrap();
        out.push(format!("{:?} {} {}", o.status.code(), o.stdout.len(), o.stderr.len()));
        // A child killed by a signal: output has its status.
        let o = Command::new("sh").arg("-c").arg("echo partial; kill -TERM $$").output().unwrap();
        out.push(format!("{:?} {:?} {:?}", o.status.code(), o.status.signal(), o.stdout));
        // Only stderr piped through spawn: wait_with_output collects it.
        let c = Command::new("sh").arg("-c").arg("echo e >&2").stderr(Stdio::piped()).spawn().unwrap();
        let o = c.wait_with_output().unwrap();
        out.push(format!("{:?} {:?} {:?}", o.status.code(), o.stdout, o.stderr));
        // stdout taken before wait_with_output: not collected.
        let mut c = Command::new("echo").arg("mine").stdout(Stdio::piped()).spawn().unwrap();
        let mut mine = c.stdout.take().unwrap();
        let o = c.wait_with_output().unwrap();
        let mut s = String::new();
        mine.read_to_string(&mut s).unwrap();
        out.push(format!("{:?} {:?} {s:?}", o.status.code(), o.stdout));
        // stdout to null, stderr captured by output().
        let o = Command::new("sh").arg("-c").arg("echo o; echo e >&2").stdout(Stdio::null()).output().unwrap();
        out.push(format!("{:?} {:?}", o.stdout, o.stderr));
        out
    }

    fn environment_and_directory(dir) -> Vec<String> {
        let mut out = Vec::new();
        let o = Command::new("/usr/bin/env").env_clear().output().unwrap();
        out.push(format!("{:?}", o.stdout));
        let o = Command::new("/usr/bin/env").env_clear().env("A", "1").env("B", "").output().unwrap();
        out.push(String::from_utf8_lossy(&o.stdout).into_owned());
        let o = Command::new("sh").arg("-c").arg("echo ${GUV_R23:-unset}").env("GUV_R23", "x").env_remove("GUV_R23").output().unwrap();
        out.push(String::from_utf8_lossy(&o.stdout).into_owned());
        // A PATH given to the child is the one its program is looked up in.
        let bin = dir.join("bin");
        std::fs::create_dir(&bin).unwrap();
        // A link to sh, not a script written here: a file just written can
        // be "busy" for exec while a child another test forks meanwhile
        // still holds its write fd (ETXTBSY).
        let tool = bin.join("guv-r23-tool");
        std::os::unix::fs::symlink("/bin/sh", &tool).unwrap();
        let script = "echo tool ran in \"$(basename \"$PWD\")\"";
        let o = Command::new("guv-r23-tool").arg("-c").arg(script).env("PATH", &bin).current_dir(&bin).output();
        out.push(err(&o.map(|o| String::from_utf8_lossy(&o.stdout).into_owned())));
        let o = Command::new("guv-r23-tool").output();
        out.push(err(&o.map(|o| o.status.code())));
        // current_dir errors: missing, a file, relative program with it.
        out.push(err(&Command::new("true").current_dir(dir.join("missing")).spawn().map(|_| ())));
        out.push(err(&Command::new("true").current_dir(&tool).status().map(|s| s.code())));
        out.push(err(&Command::new("./guv-r23-tool").arg("-c").arg(script).current_dir(&bin).output().map(|o| o.stdout)));
        // An env key with '=' or a NUL byte.
        out.push(err(&Command::new("true").env("A\0B", "x").status().map(|s| s.code())));
        out.push(err(&Command::new("true").arg("a\0b").status().map(|s| s.code())));
        out
    }
}
