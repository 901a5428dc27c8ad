pub mod decode;
pub mod encode;
pub mod info;
pub mod models;
pub mod roundtrip;
