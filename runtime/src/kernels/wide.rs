//! Element-wise loops that stream memory (an optimizer's update, a scan for
//! non-finite values) are compiled by the baseline x86-64 target to SSE's 4
//! lanes. [`wide_dispatch!`] compiles such a function again for AVX-512 and
//! for AVX2 and picks the widest the CPU has at run time: each element's
//! arithmetic is the same IEEE operations at any width (Rust never contracts
//! a multiply and an add into a fused one), so the bits are the same.

/// `wide_dispatch! { /// docs
/// pub fn name(args) -> Ret = body }` defines `name`, which calls `body`
/// (an `#[inline(always)]` function of the same arguments) compiled for
/// AVX-512 or AVX2 on a CPU that has them, and as it is otherwise.
macro_rules! wide_dispatch {
    ($(#[$meta:meta])* $vis:vis fn $name:ident$(<$lt:lifetime>)?($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? = $body:path) => {
        $(#[$meta])*
        $vis fn $name$(<$lt>)?($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                /// The body compiled for AVX-512.
                ///
                /// # Safety
                /// The CPU must have AVX-512F.
                #[target_feature(enable = "avx2,avx512f")]
                unsafe fn on_avx512$(<$lt>)?($($arg: $ty),*) $(-> $ret)? {
                    $body($($arg),*)
                }
                /// The body compiled for AVX2.
                ///
                /// # Safety
                /// The CPU must have AVX2.
                #[target_feature(enable = "avx2")]
                unsafe fn on_avx2$(<$lt>)?($($arg: $ty),*) $(-> $ret)? {
                    $body($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has AVX-512F, checked just above.
                    return unsafe { on_avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2, checked just above.
                    return unsafe { on_avx2($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}
pub(crate) use wide_dispatch;
