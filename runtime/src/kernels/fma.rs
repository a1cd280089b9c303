//! Scalar code whose sums are fused multiply-adds (`f32::mul_add`) runs on
//! the CPU's FMA instruction only where it is compiled for it; otherwise
//! every `mul_add` is a call to libm's `fmaf`, the same bits several times
//! slower. [`fma_dispatch!`] compiles a function twice and picks at run time.

/// `fma_dispatch! { /// docs
/// pub fn name(args) -> Ret = body }` defines `name`, which calls `body`
/// (an `#[inline(always)]` function of the same arguments) compiled with
/// FMA instructions on a CPU that has them, and as it is otherwise.
macro_rules! fma_dispatch {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty = $body:path) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                /// The body compiled with FMA instructions.
                ///
                /// # Safety
                /// The CPU must have FMA.
                #[target_feature(enable = "fma")]
                unsafe fn on_fma($($arg: $ty),*) -> $ret {
                    $body($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("fma") {
                    // SAFETY: the CPU has FMA, checked just above.
                    return unsafe { on_fma($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}
pub(crate) use fma_dispatch;
