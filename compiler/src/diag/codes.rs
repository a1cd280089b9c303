//! Every diagnostic code, with its one-line title. `docs/errors.md` has a
//! minimal failing example of each; a test keeps the two in step.

macro_rules! codes {
    ($( $variant:ident = $code:literal, $title:literal; )*) => {
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code { $($variant),* }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            /// The stable code, e.g. `E0101`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code),* }
            }

            pub fn title(self) -> &'static str {
                match self { $(Code::$variant => $title),* }
            }
        }
    };
}

codes! {
    // syntax
    Syntax = "E0001", "syntax error";
    BadNumber = "E0002", "number literal is not a finite number";
    // files and imports
    FileUnreadable = "E0010", "model file cannot be read";
    ImportNotFound = "E0011", "imported file cannot be read";
    ImportCycle = "E0012", "imports form a cycle";
    ModelInImport = "E0013", "an imported file defines a model";
    MultipleModels = "E0014", "more than one model in a file";
    NoModel = "E0015", "the file defines no model to compile";
    BadSetting = "E0016", "`--set` names nothing to set";
    BadSweep = "E0017", "sweep options that cannot be used";
    BadAnalysis = "E0018", "analysis options that cannot be used";
    NoInt8 = "E0019", "the model has no int8 layer for a multiplier";
    BadCount = "E0020", "a count on the command line is out of range";
    UnknownStdFile = "E0021", "unknown standard library file";
    // names
    UnknownName = "E0101", "unknown tensor name";
    DuplicateName = "E0102", "name defined twice";
    UnknownProfile = "E0103", "unknown hardware profile";
    DuplicateProfile = "E0104", "profile defined twice";
    ProfileCycle = "E0105", "profiles extend each other in a cycle";
    UnknownOp = "E0106", "unknown layer operation";
    UseBeforeDefinition = "E0107", "tensor used before it is defined";
    NoOutput = "E0108", "model has no output";
    NoInput = "E0109", "model has no input";
    UnknownEffect = "E0110", "unknown effect";
    UnknownDesign = "E0111", "unknown kind of effect";
    UnknownStep = "E0112", "unknown preprocessing step";
    UnknownDtype = "E0113", "unknown input dtype";
    // arguments
    UnknownParam = "E0201", "unknown parameter";
    MissingArg = "E0202", "missing required argument";
    DuplicateArg = "E0203", "argument given twice";
    WrongType = "E0204", "argument has the wrong type";
    TooManyPositional = "E0205", "too many positional arguments";
    BadChoice = "E0206", "value is not one of the allowed choices";
    ConflictingArgs = "E0207", "arguments that exclude each other";
    // units and ranges
    UnknownUnit = "E0301", "unknown unit";
    UnitNotAllowed = "E0302", "unit has no meaning here";
    OutOfRange = "E0303", "value out of range";
    NotInteger = "E0304", "whole number expected";
    EmptyRange = "E0305", "lower bound not below upper bound";
    NotRepresentable = "E0306", "value does not fit in f32";
    // effects that do not fit
    EffectNotApplicable = "E0401", "effect does not apply to this operation";
    MultiplierNeedsInt8 = "E0402", "multiplier needs int8 quantization";
    LsbNeedsAdc = "E0403", "`lsb` needs a format with an ADC";
    SignednessMismatch = "E0404", "multiplier table and int8 format disagree on signedness";
    BadTable = "E0405", "multiplier table cannot be used";
    IncompatibleEffects = "E0406", "effects that cannot be combined";
    DuplicateEffect = "E0407", "effect set twice in one block";
    // shapes
    RankMismatch = "E0501", "tensor has the wrong rank";
    ShapeMismatch = "E0502", "operand shapes differ";
    BadGeometry = "E0503", "kernel, stride or padding do not fit the input";
    GroupsMismatch = "E0504", "groups do not divide the channels";
    ReshapeMismatch = "E0505", "reshape changes the number of elements";
    ChannelListMismatch = "E0506", "per-channel list has the wrong length";
    BadInputShape = "E0507", "input shape is not valid";
    TooLarge = "E0508", "a tensor or layer is too large to run";
    // weights
    NoWeightsFile = "E0601", "layer needs weights but the model names no weights file";
    WeightsUnreadable = "E0602", "weights file cannot be read";
    WeightsCorrupt = "E0603", "weights file is not valid safetensors";
    TensorMissing = "E0604", "tensor missing from the weights file";
    TensorShape = "E0605", "tensor has the wrong shape";
    TensorDtype = "E0606", "tensor has the wrong dtype";
    TensorNotFinite = "E0607", "tensor holds NaN or infinite values";
    DuplicateWeights = "E0608", "weights file named twice";
    // datasets
    DataUnreadable = "E0801", "dataset cannot be read";
    DataCorrupt = "E0802", "dataset file is malformed";
    DataShape = "E0803", "dataset samples do not fit the model's input";
    DataDtype = "E0804", "dataset dtype differs from the model's input";
    DataLabels = "E0805", "dataset labels do not fit";
    DuplicateData = "E0806", "dataset named twice";
    // data given to `run`
    InputUnreadable = "E0701", "input data cannot be read";
    InputDtype = "E0702", "input data has the wrong dtype";
    InputShape = "E0703", "input data has the wrong shape";
    InputNames = "E0704", "inputs given do not match the model's";
    OutputUnwritable = "E0705", "output file cannot be written";
    Interrupted = "E0706", "interrupted";
    BadShards = "E0707", "sweep outputs that cannot be merged";
    OutputBusy = "E0708", "another run is writing the output folder";
    // `analogc import` of an ONNX file
    OnnxUnreadable = "E0901", "ONNX file cannot be read or decoded";
    OnnxOpset = "E0902", "ONNX opset outside the supported range";
    OnnxUnsupported = "E0903", "ONNX operator or pattern the language cannot express";
    OnnxMissingTensor = "E0904", "ONNX node reads a tensor nothing defines";
    OnnxDynamicShape = "E0905", "ONNX shape not known when importing";
    OnnxType = "E0906", "ONNX tensor of a type the importer cannot use";
    OnnxExternalData = "E0907", "ONNX tensor stored outside the file";
    // `analogc train`
    BadTrainOption = "E1001", "training options that cannot be used";
    UnknownLayer = "E1002", "`--train`/`--freeze` names no layer with weights";
    NothingToTrain = "E1003", "no layer is left to train";
    Diverged = "E1004", "training diverged: a value became NaN or infinite";
    NothingToMeasure = "E1005", "`--dnf` finds no layer whose hardware error it can measure";
    // `analogc denoise`
    BadDenoiseOption = "E1101", "denoise options that cannot be used";
    BudgetTooSmall = "E1102", "the budget does not pay for one denoise block";
    NoDenoiseSite = "E1103", "no layer to place a denoise block after";
    // warnings
    UnusedLayer = "W0001", "layer does not reach any output";
}
