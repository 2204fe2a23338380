"""Contains all the data models used in inputs/outputs"""

from .add_metric_request import AddMetricRequest
from .add_metric_request_metric_name import AddMetricRequestMetricName
from .applied_result import AppliedResult
from .backward_result import BackwardResult
from .batch import Batch
from .calculate_metric_request import CalculateMetricRequest
from .capacity import Capacity
from .chat_message import ChatMessage
from .chat_message_role import ChatMessageRole
from .checkpoint import Checkpoint
from .checkpoint_list import CheckpointList
from .clip_call import ClipCall
from .clip_call_op import ClipCallOp
from .clip_grad_and_step_result import ClipGradAndStepResult
from .clip_grad_norm_request import ClipGradNormRequest
from .clip_grad_norm_result import ClipGradNormResult
from .create_data_loader_request import CreateDataLoaderRequest
from .create_dataset_request import CreateDatasetRequest
from .create_session_request import CreateSessionRequest
from .create_training_run_request import CreateTrainingRunRequest
from .cursor import Cursor
from .data_loader_info import DataLoaderInfo
from .data_loader_state import DataLoaderState
from .data_row import DataRow
from .data_slice import DataSlice
from .dataset_add_request import DatasetAddRequest
from .dataset_encode_request import DatasetEncodeRequest
from .dataset_filter_request import DatasetFilterRequest
from .dataset_info import DatasetInfo
from .dataset_info_template_type_0 import DatasetInfoTemplateType0
from .dataset_map_request import DatasetMapRequest
from .dataset_meta import DatasetMeta
from .dataset_meta_data_item import DatasetMetaDataItem
from .dataset_mix_request import DatasetMixRequest
from .dataset_mix_request_mode import DatasetMixRequestMode
from .dataset_row import DatasetRow
from .empty_request import EmptyRequest
from .error_body import ErrorBody
from .error_body_details import ErrorBodyDetails
from .error_response import ErrorResponse
from .forward_backward_result import ForwardBackwardResult
from .forward_request import ForwardRequest
from .forward_result import ForwardResult
from .health import Health
from .health_status import HealthStatus
from .history_export import HistoryExport
from .history_kind import HistoryKind
from .history_point import HistoryPoint
from .history_point_metrics import HistoryPointMetrics
from .hub import Hub
from .init_args import InitArgs
from .load_checkpoint_request import LoadCheckpointRequest
from .lora_config import LoraConfig
from .lora_config_bias import LoraConfigBias
from .loss_name import LossName
from .loss_result import LossResult
from .lr_step_result import LrStepResult
from .metric_call import MetricCall
from .metric_call_op import MetricCallOp
from .metric_result import MetricResult
from .metric_result_metrics import MetricResultMetrics
from .model_capability import ModelCapability
from .model_capacity import ModelCapacity
from .model_sample_request import ModelSampleRequest
from .plain_call import PlainCall
from .plain_call_op import PlainCallOp
from .row import Row
from .row_preference import RowPreference
from .rows_call import RowsCall
from .rows_call_op import RowsCallOp
from .run_call_op import RunCallOp
from .run_call_outcome import RunCallOutcome
from .run_call_outcome_result_type_0 import RunCallOutcomeResultType0
from .run_call_outcome_status import RunCallOutcomeStatus
from .run_calls_request import RunCallsRequest
from .run_calls_result import RunCallsResult
from .run_history import RunHistory
from .sample_prompt import SamplePrompt
from .sample_request import SampleRequest
from .sample_result import SampleResult
from .sample_stream_response_200 import SampleStreamResponse200
from .sample_stream_response_200_event import SampleStreamResponse200Event
from .sampled_sequence import SampledSequence
from .sampled_sequence_stop_reason import SampledSequenceStopReason
from .save_checkpoint_request import SaveCheckpointRequest
from .server_capabilities import ServerCapabilities
from .session import Session
from .session_status import SessionStatus
from .set_data_loader_state_request import SetDataLoaderStateRequest
from .set_loss_request import SetLossRequest
from .set_lr_scheduler_request import SetLrSchedulerRequest
from .set_lr_scheduler_request_scheduler_name import SetLrSchedulerRequestSchedulerName
from .set_optimizer_request import SetOptimizerRequest
from .set_optimizer_request_optimizer_name import SetOptimizerRequestOptimizerName
from .set_processor_request import SetProcessorRequest
from .set_processor_request_padding_side import SetProcessorRequestPaddingSide
from .set_template_request import SetTemplateRequest
from .step_result import StepResult
from .string_map import StringMap
from .task import Task
from .task_progress import TaskProgress
from .task_result_type_0 import TaskResultType0
from .task_status import TaskStatus
from .tensor_info import TensorInfo
from .train_configs import TrainConfigs
from .train_configs_loss_type_0 import TrainConfigsLossType0
from .train_configs_lr_scheduler_type_0 import TrainConfigsLrSchedulerType0
from .train_configs_optimizer_type_0 import TrainConfigsOptimizerType0
from .train_configs_processor_type_0 import TrainConfigsProcessorType0
from .train_configs_template_type_0 import TrainConfigsTemplateType0
from .training_run import TrainingRun
from .training_run_list import TrainingRunList
from .training_run_status import TrainingRunStatus
from .truncation_strategy import TruncationStrategy
from .upload_checkpoint_request import UploadCheckpointRequest
from .upload_task import UploadTask
from .weights_info import WeightsInfo
from .who_am_i import WhoAmI

__all__ = (
    "AddMetricRequest",
    "AddMetricRequestMetricName",
    "AppliedResult",
    "BackwardResult",
    "Batch",
    "CalculateMetricRequest",
    "Capacity",
    "ChatMessage",
    "ChatMessageRole",
    "Checkpoint",
    "CheckpointList",
    "ClipCall",
    "ClipCallOp",
    "ClipGradAndStepResult",
    "ClipGradNormRequest",
    "ClipGradNormResult",
    "CreateDataLoaderRequest",
    "CreateDatasetRequest",
    "CreateSessionRequest",
    "CreateTrainingRunRequest",
    "Cursor",
    "DataLoaderInfo",
    "DataLoaderState",
    "DataRow",
    "DatasetAddRequest",
    "DatasetEncodeRequest",
    "DatasetFilterRequest",
    "DatasetInfo",
    "DatasetInfoTemplateType0",
    "DatasetMapRequest",
    "DatasetMeta",
    "DatasetMetaDataItem",
    "DatasetMixRequest",
    "DatasetMixRequestMode",
    "DatasetRow",
    "DataSlice",
    "EmptyRequest",
    "ErrorBody",
    "ErrorBodyDetails",
    "ErrorResponse",
    "ForwardBackwardResult",
    "ForwardRequest",
    "ForwardResult",
    "Health",
    "HealthStatus",
    "HistoryExport",
    "HistoryKind",
    "HistoryPoint",
    "HistoryPointMetrics",
    "Hub",
    "InitArgs",
    "LoadCheckpointRequest",
    "LoraConfig",
    "LoraConfigBias",
    "LossName",
    "LossResult",
    "LrStepResult",
    "MetricCall",
    "MetricCallOp",
    "MetricResult",
    "MetricResultMetrics",
    "ModelCapability",
    "ModelCapacity",
    "ModelSampleRequest",
    "PlainCall",
    "PlainCallOp",
    "Row",
    "RowPreference",
    "RowsCall",
    "RowsCallOp",
    "RunCallOp",
    "RunCallOutcome",
    "RunCallOutcomeResultType0",
    "RunCallOutcomeStatus",
    "RunCallsRequest",
    "RunCallsResult",
    "RunHistory",
    "SampledSequence",
    "SampledSequenceStopReason",
    "SamplePrompt",
    "SampleRequest",
    "SampleResult",
    "SampleStreamResponse200",
    "SampleStreamResponse200Event",
    "SaveCheckpointRequest",
    "ServerCapabilities",
    "Session",
    "SessionStatus",
    "SetDataLoaderStateRequest",
    "SetLossRequest",
    "SetLrSchedulerRequest",
    "SetLrSchedulerRequestSchedulerName",
    "SetOptimizerRequest",
    "SetOptimizerRequestOptimizerName",
    "SetProcessorRequest",
    "SetProcessorRequestPaddingSide",
    "SetTemplateRequest",
    "StepResult",
    "StringMap",
    "Task",
    "TaskProgress",
    "TaskResultType0",
    "TaskStatus",
    "TensorInfo",
    "TrainConfigs",
    "TrainConfigsLossType0",
    "TrainConfigsLrSchedulerType0",
    "TrainConfigsOptimizerType0",
    "TrainConfigsProcessorType0",
    "TrainConfigsTemplateType0",
    "TrainingRun",
    "TrainingRunList",
    "TrainingRunStatus",
    "TruncationStrategy",
    "UploadCheckpointRequest",
    "UploadTask",
    "WeightsInfo",
    "WhoAmI",
)
