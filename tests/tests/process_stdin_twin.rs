//! guv::green::process against std::process, as twins (see
//! review23_process_twin.rs): a `Command`'s `Debug` forms after `output()`
//! and `status()`, and what one `write` to a child's stdin pipe returns
//! when the pipe cannot take it all at once.

/// A result as compared (`guv_tests::io_result`).
use guv_tests::io_result as err;

guv_tests::twins! {
    std: {
        use std::process::{Command, Stdio};
        use std::io::{IoSlice, Read, Write};
        use super::err;
    }
    green: {
        use guv::green::process::{Command, Stdio};
        use std::io::{IoSlice, Read, Write};
        use super::err;
    }
    fn command_debug_after_output_and_status() -> Vec<String> {
        let mut out = Vec::new();
        let mut c = Command::new("sh");
        c.arg("-c").arg("echo out; echo err >&2").env("TWIN", "1");
        out.push(format!("{c:?}"));
        out.push(format!("{c:#?}"));
        let o = c.output().unwrap();
        out.push(format!("{:?} {:?} {:?}", o.status.code(), o.stdout, o.stderr));
        out.push(format!("{c:?}"));
        out.push(format!("{c:#?}"));
        // A stream set before, then output() and status() again.
        c.stderr(Stdio::null());
        let o = c.output().unwrap();
        out.push(format!("{:?} {:?} {:?}", o.status.code(), o.stdout, o.stderr));
        out.push(format!("{c:#?}"));
        c.stdout(Stdio::null());
        out.push(err(&c.status().map(|s| s.code())));
        out.push(format!("{c:#?}"));
        out
    }

    fn one_write_to_a_full_stdin_pipe() -> Vec<String> {
        let mut out = Vec::new();
        // The child reads everything, slowly at first: a write of more
        // than the pipe holds cannot all go in at once.
        let mut c = Command::new("sh")
            .arg("-c")
            .arg("read -r line; exec wc -c")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = c.stdin.take().unwrap();
        let mut big = b"first line\n".to_vec();
        big.resize(1 << 20, b'x');
        out.push(err(&stdin.write(&big)));
        let slices = [IoSlice::new(&big[..300_000]), IoSlice::new(&big[300_000..700_000])];
        out.push(err(&stdin.write_vectored(&slices)));
        out.push(err(&stdin.write(&[])));
        out.push(err(&stdin.flush()));
        drop(stdin);
        let mut counted = String::new();
        c.stdout.take().unwrap().read_to_string(&mut counted).unwrap();
        out.push(counted.trim().to_owned());
        out.push(err(&c.wait().map(|s| s.code())));
        out
    }
}
