//! WebSocket messages: public topics, private topics and operation replies.
