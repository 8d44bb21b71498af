//! The path of the node being decoded, kept on the stack and printed only
//! when a problem needs it.

use crate::node::Seg;

#[derive(Clone, Copy)]
pub(super) enum PathSeg<'a> {
    Root(&'a str),
    Key(&'a str),
    Index(usize),
}

/// A path as a linked list on the stack: no allocation unless it is printed.
#[derive(Clone, Copy)]
pub(super) struct Path<'a> {
    pub(super) parent: Option<&'a Path<'a>>,
    pub(super) seg: PathSeg<'a>,
}

impl Path<'_> {
    pub(super) fn segs(&self) -> Vec<Seg> {
        let mut out = Vec::new();
        let mut cur = Some(self);
        while let Some(p) = cur {
            match p.seg {
                PathSeg::Root(_) => {}
                PathSeg::Key(k) => out.push(Seg::Key(k.to_owned())),
                PathSeg::Index(i) => out.push(Seg::Index(i)),
            }
            cur = p.parent;
        }
        out.reverse();
        out
    }

    pub(super) fn root(&self) -> &str {
        let mut cur = self;
        while let Some(p) = cur.parent {
            cur = p;
        }
        match cur.seg {
            PathSeg::Root(r) => r,
            _ => "",
        }
    }
}

/// Formats segments below `prefix` as `prefix.key[1].other`.
pub(crate) fn display_path(prefix: &str, segs: &[Seg]) -> String {
    let mut out = prefix.to_owned();
    for seg in segs {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}
