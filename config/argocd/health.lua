-- Argo CD health check for mx.mxoperator.dev MXUser and MXMember.
--
-- It follows the same rules as kstatus (sigs.k8s.io/cli-utils), so Argo CD, Flux and kpt agree:
--   being deleted                                  -> Progressing (kstatus: Terminating)
--   status.observedGeneration behind generation    -> Progressing (kstatus: InProgress)
--   Reconciling=True                               -> Progressing (kstatus: InProgress)
--   Stalled=True                                   -> Degraded    (kstatus: Failed)
--   Ready=True                                     -> Healthy     (kstatus: Current)
--   Ready=False or Unknown                         -> Progressing (kstatus: InProgress)
-- One deliberate difference: an object the operator has not reported on yet (no conditions) is
-- Progressing here, where kstatus assumes Current for want of any signal.
local hs = {}

if obj.metadata ~= nil and obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "Being deleted"
  return hs
end

local status = obj.status
if status == nil or status.conditions == nil or #status.conditions == 0 then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report"
  return hs
end

if status.observedGeneration ~= nil and obj.metadata.generation ~= nil
    and status.observedGeneration ~= obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "The operator has not yet acted on the latest spec"
  return hs
end

for _, c in ipairs(status.conditions) do
  if c.type == "Reconciling" and c.status == "True" then
    hs.status = "Progressing"
    hs.message = c.message
    return hs
  end
  if c.type == "Stalled" and c.status == "True" then
    hs.status = "Degraded"
    hs.message = c.message
    return hs
  end
end

for _, c in ipairs(status.conditions) do
  if c.type == "Ready" then
    if c.status == "True" then
      hs.status = "Healthy"
    else
      hs.status = "Progressing"
    end
    hs.message = c.message
    return hs
  end
end

hs.status = "Healthy"
hs.message = "No conditions to report"
return hs
