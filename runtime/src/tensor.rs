//! A dense, row-major f32 tensor.

/// A dense row-major `f32` tensor. Shapes exclude nothing: a weight matrix of a
/// dense layer is `[out, in]`, a conv kernel `[out, in/groups, kh, kw]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Tensor {
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Self {
        assert_eq!(shape.iter().product::<usize>(), data.len(), "tensor data does not fill its shape");
        Tensor { shape, data }
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Number of elements that are NaN or infinite.
    pub fn non_finite(&self) -> usize {
        self.data.iter().filter(|v| !v.is_finite()).count()
    }
}
