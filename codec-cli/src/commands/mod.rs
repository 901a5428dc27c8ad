pub mod decode;
pub mod encode;
pub mod info;
pub mod live;
pub mod models;
pub mod roundtrip;
pub mod sdp;
pub mod tokenize;
