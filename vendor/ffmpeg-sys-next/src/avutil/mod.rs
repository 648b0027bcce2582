#[macro_use]
mod macros;

mod error;
pub use self::error::*;

mod util;
pub use self::util::*;

mod rational;
pub use self::rational::*;

mod pixfmt;
pub use self::pixfmt::*;

#[cfg(feature = "ffmpeg_8_0")]
mod profile;
#[cfg(feature = "ffmpeg_8_0")]
pub use self::profile::*;
