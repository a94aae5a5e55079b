use super::*;

fn node(addr: &str, lsn: u64, downstreams: Vec<TreeNode>) -> TreeNode {
    TreeNode {
        address: addr.into(),
        acked_lsn: lsn,
        applied_lsn: lsn - 1,
        last_ship_unix_ms: 77,
        failures_in_row: 2,
        connected: lsn % 2 == 0,
        last_error_reason: (lsn % 5 == 0).then(|| "connect".to_string()),
        downstreams,
        ..TreeNode::default()
    }
}

/// A chain `depth` deep under one root.
fn chain(depth: u64) -> TreeNode {
    let mut t = node(&format!("n{depth}:1"), depth + 10, vec![]);
    for d in (1..depth).rev() {
        t = node(&format!("n{d}:1"), d + 10, vec![t]);
    }
    t
}

#[test]
fn a_tree_round_trips_depth_first() {
    let tree = DownstreamTree {
        nodes: vec![
            node(
                "b:1",
                12,
                vec![
                    node("c:1", 13, vec![node("e:1", 15, vec![])]),
                    node("d:1", 14, vec![]),
                ],
            ),
            node("f:1", 16, vec![]),
        ],
        truncated: false,
    };
    let b = tree.encode();
    assert_eq!(b[0], 0);
    assert_eq!(u16::from_le_bytes([b[1], b[2]]), 5);
    // The first entry, byte for byte.
    assert_eq!(b[3], 1, "depth");
    assert_eq!(b[4], 1, "connected");
    assert_eq!(&b[5..13], &12u64.to_le_bytes());
    assert_eq!(&b[13..21], &11u64.to_le_bytes());
    assert_eq!(&b[21..29], &77u64.to_le_bytes());
    assert_eq!(&b[29..33], &2u32.to_le_bytes());
    assert_eq!(b[33], 3);
    assert_eq!(&b[34..37], b"b:1");
    assert_eq!(b[37], 0, "no reason");
    assert_eq!(b[38], 2, "c is at depth 2");
    assert_eq!(DownstreamTree::decode(&b).unwrap(), tree);
    assert_eq!(
        DownstreamTree::decode(&DownstreamTree::default().encode()).unwrap(),
        DownstreamTree::default()
    );
}

#[test]
fn deeper_than_the_bound_is_cut_and_said() {
    let tree = DownstreamTree {
        nodes: vec![chain(u64::from(MAX_TREE_DEPTH) + 3)],
        truncated: false,
    };
    let got = DownstreamTree::decode(&tree.encode()).unwrap();
    assert!(got.truncated);
    let mut depth = 0;
    walk(&got.nodes, &mut Vec::new(), &mut |via, _| {
        depth = depth.max(via.len() + 1)
    });
    assert_eq!(depth, MAX_TREE_DEPTH as usize);
    // Exactly at the bound: nothing is cut.
    let tree = DownstreamTree {
        nodes: vec![chain(u64::from(MAX_TREE_DEPTH))],
        truncated: false,
    };
    assert_eq!(DownstreamTree::decode(&tree.encode()).unwrap(), tree);
}

#[test]
fn more_entries_than_the_bound_are_cut_and_long_text_is_shortened() {
    let long = "x".repeat(1000);
    let tree = DownstreamTree {
        nodes: (0..MAX_TREE_ENTRIES as u64 + 10)
            .map(|i| node(&long, i + 10, vec![]))
            .collect(),
        truncated: false,
    };
    let b = tree.encode();
    assert!(b.len() <= MAX_TREE_BODY_BYTES);
    let got = DownstreamTree::decode(&b).unwrap();
    assert!(got.truncated);
    assert_eq!(got.nodes.len(), MAX_TREE_ENTRIES);
    assert_eq!(got.nodes[0].address.len(), MAX_TREE_TEXT_BYTES);
    // A multi-byte character is never split.
    let t = DownstreamTree {
        nodes: vec![node(&"é".repeat(200), 10, vec![])],
        truncated: false,
    };
    let got = DownstreamTree::decode(&t.encode()).unwrap();
    assert_eq!(got.nodes[0].address, "é".repeat(127));
}

#[test]
fn malformed_bodies_are_errors_that_say_what() {
    let good = DownstreamTree {
        nodes: vec![node("b:1", 12, vec![node("c:1", 13, vec![])])],
        truncated: false,
    }
    .encode();
    let err = |b: &[u8]| DownstreamTree::decode(b).unwrap_err().to_string();
    assert!(
        err(&good[..2]).contains("at least 3"),
        "{}",
        err(&good[..2])
    );
    assert!(err(&good[..good.len() - 1]).contains("entry 1 ends past the body"));
    let mut long = good.clone();
    long.push(0);
    assert!(err(&long).contains("1 unexpected trailing bytes"));
    let mut many = good.clone();
    many[1..3].copy_from_slice(&(MAX_TREE_ENTRIES as u16 + 1).to_le_bytes());
    assert!(err(&many).contains("over the limit"));
    let mut skip = good.clone();
    skip[3 + 30 + 1 + 3 + 1] = 3; // c's depth: 3 after 1
    assert!(
        err(&skip).contains("entry 1 at depth 3: after an entry at depth 1"),
        "{}",
        err(&skip)
    );
    let mut zero = good.clone();
    zero[3] = 0;
    assert!(err(&zero).contains("entry 0 at depth 0: the first entry is at depth 1"));
    let mut utf = good.clone();
    utf[34] = 0xff;
    assert!(err(&utf).contains("entry 0: text is not UTF-8"));
    assert!(err(&vec![0u8; MAX_TREE_BODY_BYTES + 1]).contains("over the limit"));
}

#[test]
fn lag_is_measured_from_the_readers_position() {
    let mut nodes = vec![node("b:1", 12, vec![node("c:1", 10, vec![])])];
    measure_lag(&mut nodes, 20);
    assert_eq!(nodes[0].lag_bytes, 8);
    assert_eq!(nodes[0].downstreams[0].lag_bytes, 10);
    let mut seen = Vec::new();
    walk(&nodes, &mut Vec::new(), &mut |via, t| {
        seen.push(format!("{}<{}", t.address, via.join(">")))
    });
    assert_eq!(seen, ["b:1<", "c:1<b:1"]);
}
