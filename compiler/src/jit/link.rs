//! Linking a module: the host symbols compiled code may call (precompiled
//! Rust: libm shims, the vectorized generator, micro-kernels), their
//! declarations, and the generator's Cranelift versions defined in every
//! module.

use super::emit::{self, Imports};
use super::host::{self, EXPF, FILL, GAUSSIAN, TANHF, UNIFORM};
use super::{dynamic, mac, module, rng, Kernels};
use cranelift_codegen::ir::types::{F32, I32, I64};
use cranelift_codegen::ir::{AbiParam, InstBuilder, Signature, Type, UserFuncName};
use cranelift_codegen::Context;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_module::{Linkage, Module};
use std::collections::HashMap;

/// Host symbols by name, for the JIT's symbol table.
pub fn symbols() -> Vec<(&'static str, *const u8)> {
    let mut s =
        vec![(FILL, rng::host_fill as *const u8), (EXPF, host::expf as *const u8), (TANHF, host::tanhf as *const u8)];
    s.push((host::FMAF, host::fmaf as *const u8));
    s.extend(mac::host_symbols());
    s.push((dynamic::DYNAMIC_LAYER, dynamic::dynamic_layer as *const u8));
    s
}

fn sig(module: &dyn Module, params: &[Type], ret: Option<Type>) -> Signature {
    let mut s = module.make_signature();
    s.params.extend(params.iter().map(|t| AbiParam::new(*t)));
    s.returns.extend(ret.map(AbiParam::new));
    s
}

fn fill_sig(module: &dyn Module) -> Signature {
    sig(module, &[I64, I32, I32, I32, I64, I64], None)
}

fn draw_sig(module: &dyn Module) -> Signature {
    sig(module, &[I64, I32, I32, I32], Some(F32))
}

/// Declares every callable function in `module`. With `Kernels::Cranelift`
/// the generator's `fill` is module code instead of the host's.
pub fn declare(module: &mut dyn Module, kernels: Kernels) -> Result<Imports, String> {
    let mut ids = HashMap::new();
    let mut add = |name: &'static str, linkage: Linkage, s: Signature, module: &mut dyn Module| {
        let id = module.declare_function(name, linkage, &s).map_err(|e| e.to_string())?;
        ids.insert(name, id);
        Ok::<_, String>(())
    };
    let fill_linkage = if kernels == Kernels::Native { Linkage::Import } else { Linkage::Local };
    add(FILL, fill_linkage, fill_sig(module), module)?;
    add(GAUSSIAN, Linkage::Local, draw_sig(module), module)?;
    add(UNIFORM, Linkage::Local, draw_sig(module), module)?;
    let unary = sig(module, &[F32], Some(F32));
    add(EXPF, Linkage::Import, unary.clone(), module)?;
    add(TANHF, Linkage::Import, unary, module)?;
    add(dynamic::DYNAMIC_LAYER, Linkage::Import, sig(module, &[I64, I32, I32, I64], None), module)?;
    for (name, params, ret) in mac::host_signatures() {
        add(name, Linkage::Import, sig(module, &params, ret), module)?;
    }
    Ok(Imports { ids })
}

/// Defines the module's own functions (the generator).
pub fn define_module_functions(
    module: &mut dyn Module,
    imports: &Imports,
    kernels: Kernels,
    fctx: &mut FunctionBuilderContext,
    mut text: Option<&mut String>,
) -> Result<(), String> {
    let mut bodies: Vec<(&str, Signature)> = vec![(GAUSSIAN, draw_sig(module)), (UNIFORM, draw_sig(module))];
    if kernels == Kernels::Cranelift {
        bodies.push((FILL, fill_sig(module)));
    }
    for (name, s) in bodies {
        let id = imports.ids[name];
        let mut ctx = Context::new();
        ctx.func.signature = s;
        ctx.func.name = UserFuncName::user(0, id.as_u32());
        {
            let mut b = FunctionBuilder::new(&mut ctx.func, fctx);
            let entry = b.create_block();
            b.append_block_params_for_function_params(entry);
            b.switch_to_block(entry);
            let p: Vec<_> = b.block_params(entry).to_vec();
            let rep = b.ins().iconst(I32, 0);
            let mut fx = emit::Fx::new(b, p[0], rep, module, imports);
            match name {
                GAUSSIAN => {
                    let z = rng::gaussian(&mut fx, p[1], p[2], p[3]);
                    fx.b.ins().return_(&[z]);
                }
                UNIFORM => {
                    let u = rng::uniform(&mut fx, p[1], p[2], p[3]);
                    fx.b.ins().return_(&[u]);
                }
                _ => {
                    rng::fill_body(&mut fx, p[1], p[2], p[3], p[4], p[5]);
                    fx.b.ins().return_(&[]);
                }
            }
            fx.b.seal_all_blocks();
            let config = fx.module.target_config();
            fx.b.finalize(config);
        }
        module::define(module, id, name, &mut ctx, text.as_deref_mut())?;
    }
    Ok(())
}
