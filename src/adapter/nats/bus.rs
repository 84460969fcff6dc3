//! Bus messages over NATS: the shared format of [`crate::adapter::bus`].

use super::Cluster;
use crate::adapter::bus::{self, Bus};
use crate::socket::Frame;
use bytes::Bytes;

impl Cluster {
    /// This node's message of `kind`, for [`bus::deliver`] on the other nodes.
    pub(super) fn bus_message(
        &self,
        kind: Bus,
        app: &str,
        target: &str,
        except: Option<&str>,
        frame: &Frame,
    ) -> Bytes {
        Bytes::from(bus::encode(
            &self.names.node,
            kind,
            app,
            target,
            except,
            frame,
        ))
    }

    /// Handle a bus message from another node.
    pub(super) fn deliver(&self, payload: &[u8]) {
        let payload = String::from_utf8_lossy(payload);
        bus::deliver(
            &self.registry,
            &self.names.node,
            &payload,
            |app, channel| self.peer_count_changed(app, channel),
        );
    }
}
