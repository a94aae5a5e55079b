use super::*;

fn samples() -> Vec<Message> {
    let header = SegmentHeader {
        system_id: 9,
        timeline: 2,
        first_lsn: 4096,
        segment_bytes: 1 << 16,
        created_unix_ms: 1,
    };
    vec![
        Message::Hello {
            version: 1,
            nonce: [3; 32],
        },
        Message::Auth {
            version: 1,
            system_id: 9,
            timeline: 2,
            nonce: [4; 32],
            proof: [5; 32],
        },
        Message::Welcome {
            proof: [6; 32],
            system_id: 0,
            timeline: 0,
            received_lsn: 7,
            applied_lsn: 8,
        },
        Message::Refuse {
            code: RefuseCode::Timeline,
            message: "timeline 1 ended".into(),
        },
        Message::Chunk {
            encoding: ChunkEncoding::Raw,
            header,
            start_lsn: 4096,
            end_lsn: 4099,
            records: 1,
            raw_len: 3,
            primary_durable_lsn: 5000,
            last_timestamp_unix_ms: 77,
            data: vec![1, 2, 3],
        },
        Message::Ack {
            received_lsn: 1,
            applied_lsn: 2,
        },
        Message::Status {
            primary_durable_lsn: 1,
            primary_write_lsn: 2,
            unix_ms: 3,
            done: true,
        },
        Message::SnapshotBegin {
            lsn: 1,
            wal_start_lsn: 0,
            total_bytes: 3,
            system_id: 9,
            timeline: 1,
        },
        Message::SnapshotData(vec![9, 9]),
        Message::SnapshotEnd { crc32: 0xdead_beef },
        Message::History {
            timeline: 2,
            text: "1\t0x20\t5\tpromoted\n".into(),
        },
        Message::Downstreams(crate::ship::protocol::tree::DownstreamTree {
            nodes: vec![crate::ship::protocol::tree::TreeNode {
                address: "127.0.0.1:7002".into(),
                acked_lsn: 5,
                connected: true,
                ..Default::default()
            }],
            truncated: false,
        }),
    ]
}

#[test]
fn every_message_round_trips_and_truncation_is_an_error() {
    for m in samples() {
        let b = m.encode();
        assert_eq!(Message::decode(m.kind().into(), &b).unwrap(), m);
        if !matches!(
            m,
            Message::Refuse { .. }
                | Message::SnapshotData(_)
                | Message::History { .. }
                | Message::Downstreams(_)
        ) {
            let short = &b[..b.len() - 1];
            if !matches!(m, Message::Chunk { .. }) {
                assert!(Message::decode(m.kind().into(), short).is_err(), "{m:?}");
            }
            let mut long = b.clone();
            long.push(0);
            if !matches!(m, Message::Chunk { .. }) {
                assert!(Message::decode(m.kind().into(), &long).is_err(), "{m:?}");
            }
        }
    }
    assert!(Message::decode(99, &[]).is_err());
}

#[test]
fn type_bytes_round_trip_and_every_sample_has_its_own() {
    for k in MessageKind::ALL {
        assert_eq!(MessageKind::from_u8(k.into()), Some(k));
    }
    assert_eq!(MessageKind::from_u8(0), None);
    assert_eq!(MessageKind::from_u8(13), None);
    let kinds: Vec<MessageKind> = samples().iter().map(Message::kind).collect();
    assert_eq!(kinds, MessageKind::ALL);
}

#[test]
fn chunk_lengths_are_checked_before_use() {
    let Message::Chunk { header, .. } = &samples()[4] else {
        unreachable!()
    };
    let m = Message::Chunk {
        encoding: ChunkEncoding::Zstd,
        header: *header,
        start_lsn: 0,
        end_lsn: 1 << 40,
        records: 1,
        raw_len: u32::MAX,
        primary_durable_lsn: 0,
        last_timestamp_unix_ms: 0,
        data: vec![],
    };
    assert!(Message::decode(MessageKind::Chunk.into(), &m.encode()).is_err());
}
